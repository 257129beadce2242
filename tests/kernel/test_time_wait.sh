#!/usr/bin/env bash
# TIME_WAIT from the hand-over to the exit, on a real kernel: a time-wait
# socket that expires (2*MSL: 60 s on Linux; this test waits for it once)
# and one that a new connection on the same 4-tuple reuses. synfin's
# tracked set must match the kernel's list (ss).
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root time-wait
WAIT="python3 $TOP/tests/kernel/jsonwait.py"

# expect_record NAME OUT TIMEOUT EXPR [CHECK]: a record matching EXPR in
# time, and CHECK (a python expression over it) true
expect_record() {
	local name=$1 out=$2 t=$3 expr=$4 chk=${5:-True}
	if ! $WAIT "$out" "$t" "$expr" >"$TMP/$name.rec" 2>"$TMP/$name.err"; then
		fail "$name" "no record with: $expr $(head -c 200 "$TMP/$name.err")"
	elif python3 -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if ($chk) else 1)" "$TMP/$name.rec"; then
		pass "$name"
	else
		fail "$name" "record fails ($chk): $(head -c 600 "$TMP/$name.rec")"
	fi
}

# ---- expiry: the client closes first and keeps the time-wait socket -----
nsx=$(ns_create twx)
outx=$TMP/twx.jsonl
start_synfin "$outx" "$nsx" --reconcile-interval 1 -i 1
pid_x=$SYNFIN_PID
ip netns exec "$nsx" "$TCPCTL" client-first --port 20403 --linger-ms 50 >"$TMP/twx.tcp" ||
	fail tw-expiry-traffic "tcpctl failed"
cport=$(sed -n 's/.*client=127.0.0.1:\([0-9]*\) .*/\1/p' "$TMP/twx.tcp")

# ---- reuse, meanwhile: the server closes first; the same client port
# connects again and takes over the server's time-wait socket -------------
nsr=$(ns_create twr)
outr=$TMP/twr.jsonl
start_synfin "$outr" "$nsr" --reconcile-interval 1
pid_r=$SYNFIN_PID
ip netns exec "$nsr" "$TCPCTL" server-first --port 20402 --client-port 30402 --count 2 --linger-ms 20 \
	>"$TMP/twr.tcp" || fail tw-reuse-traffic "tcpctl failed"
expect_record tw-reused "$outr" 5 \
	'r["type"]=="time_wait" and r["local"]["port"]==20402 and r["peer"]["port"]==30402' \
	'r["exit"]=="reused" and r["exact"] and r["from"]=="FIN_WAIT_2" and r["entered"] is not None'
SYNFIN_PID=$pid_r
if stop_synfin; then pass tw-reuse-synfin-exit; else fail tw-reuse-synfin-exit "exit status $?"; fi
# the time_wait record names the first server flow (read once synfin has
# stopped: it writes every closed flow then; live, the second flow's record
# may still wait out its grace)
python3 - "$outr" "$TMP/tw-reused.rec" <<'PY' && pass tw-reused-names-its-flow || fail tw-reused-names-its-flow "no server flow with that id"
import json, sys
tw = json.load(open(sys.argv[2]))
flows = [r for r in map(json.loads, open(sys.argv[1])) if r["type"] == "flow" and r["role"] == "server"]
assert len(flows) == 2, len(flows)
first = min(flows, key=lambda r: r["start"])
assert tw["id"] == first["id"], (tw["id"], first["id"])
assert first["time_wait"]["inferred"] and first["segments"]["close"] in ("four_way", "three_way")
PY

# ---- back to expiry: the tracked set is the kernel's, then it expires ----
sleep 2.5
kernel=$(ip netns exec "$nsx" ss -tanH state time-wait | wc -l)
python3 - "$outx" "$kernel" <<'PY' && pass tw-tracked-equals-ss || fail tw-tracked-equals-ss "see above"
import json, sys
st = [r for r in map(json.loads, open(sys.argv[1])) if r["type"] == "stats"][-1]["time_wait"]
k = int(sys.argv[2])
if not (k == 1 and st["tracked_now"] == k and st["kernel"] == k):
    sys.exit(f"ss: {k}, synfin: {st}")
PY
# 60 s, and the kernel's timer wheel fires a 60 s timer up to one slot of
# its level late (2.05 s at HZ=250, 4.1 s at HZ=1000); synfin sees it gone
# at the next kernel-list round (1 s here)
expect_record tw-expired "$outx" 68 \
	"r['type']=='time_wait' and r['local']['port']==$cport" \
	'r["exit"]=="expired" and not r["exact"] and r["from"]=="FIN_WAIT_2" and r["entered"] is not None and 59000000 <= r["dwell_us"] <= 66000000'
SYNFIN_PID=$pid_x
if stop_synfin; then pass tw-expiry-synfin-exit; else fail tw-expiry-synfin-exit "exit status $?"; fi
