#!/usr/bin/env bash
# Truth after loss. synfin is stopped (SIGSTOP) for 2 s under a connection
# storm, with 100 long-lived connections held open meanwhile: its rings
# overflow and events are lost (counted). Once it runs again, within a
# reconcile round or two, what it says must equal what the kernel has:
# open flows and flows per state as `ss` lists them, no flow whose close
# was lost left open, no stuck record that is not resolved, every line
# valid JSON.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root loss
STORM=$TOP/build/storm

ns=$(ns_create loss) || { fail loss/setup "ip netns add failed"; exit 0; }
OUT=$TMP/loss.jsonl
start_synfin "$OUT" "$ns" -i 1 --reconcile-interval 1 --ring-mb 1 --stuck close_wait=2 \
	--stuck fin_wait_2=2 --stuck last_ack=2 || { fail loss/setup "synfin did not start: $(cat "$OUT.err")"; exit 0; }

ip netns exec "$ns" "$STORM" --mode hold --connections 100 --hold-s 25 --port 20601 \
	>"$TMP/hold.out" 2>&1 &
HOLD=$!
cleanup_add "stop_pid $HOLD INT 5"
for _ in $(seq 100); do grep -q '^holding' "$TMP/hold.out" && break; sleep 0.1; done
grep -q '^holding' "$TMP/hold.out" || fail loss/hold "storm --mode hold: $(tr '\n' ' ' <"$TMP/hold.out")"

ip netns exec "$ns" "$STORM" --duration 5 --port 20602 >"$TMP/storm.out" 2>&1 &
STORM_PID=$!
cleanup_add "stop_pid $STORM_PID INT 5"
sleep 1
kill -STOP "$SYNFIN_PID"
cleanup_add "kill -CONT $SYNFIN_PID"
sleep 2
kill -CONT "$SYNFIN_PID"
wait "$STORM_PID" || fail loss/storm "storm failed: $(tail -n 2 "$TMP/storm.out" | tr '\n' ' ')"

# settled: a few rounds after the storm, with the held connections still open
sleep 4
kernel=$(ip netns exec "$ns" ss -tanH | awk '$1 != "TIME-WAIT" { n[$1]++ } END { for (s in n) print s, n[s] }')
ip netns exec "$ns" ss -tanH >"$TMP/ss.txt"
sleep 1.5
kill -USR1 "$SYNFIN_PID" 2>/dev/null # a stats line now, where supported
sleep 0.5
stop_synfin || fail loss/exit "synfin exited $?"

python3 - "$OUT" "$kernel" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
recs = []
for i, l in enumerate(lines):
    try:
        recs.append(json.loads(l))
    except ValueError:
        print(f"FAIL loss/json: line {i + 1} is not JSON: {l[:120]!r}")
        sys.exit(0)
print("PASS loss/json")
stats = [r for r in recs if r["type"] == "stats"]
lost = max(s["events"]["lost"] for s in stats)
if lost == 0:
    print("FAIL loss/lost: no event was lost: the test proves nothing")
else:
    print(f"PASS loss/lost")
    print(f"# {lost} events lost")
# the kernel's view a few seconds after the storm (held connections, listeners)
names = {"ESTAB": "ESTABLISHED", "LISTEN": "LISTEN", "SYN-RECV": "SYN_RECEIVED",
         "FIN-WAIT-1": "FIN_WAIT_1", "FIN-WAIT-2": "FIN_WAIT_2", "CLOSE-WAIT": "CLOSE_WAIT",
         "LAST-ACK": "LAST_ACK", "CLOSING": "CLOSING", "SYN-SENT": "SYN_SENT"}
kernel = {}
for line in sys.argv[2].splitlines():
    s, n = line.split()
    kernel[names.get(s, s)] = int(n)
# the stats lines taken once settled: the one before stopping, and the last
settled = stats[-2]
by_state = {k: v for k, v in settled["flows"]["by_state"].items() if v}
if by_state == kernel and settled["flows"]["open"] == sum(kernel.values()):
    print("PASS loss/open-equals-ss")
else:
    print(f"FAIL loss/open-equals-ss: synfin open {settled['flows']['open']} {by_state}, ss {kernel}")
if settled["stuck"]["now"] == 0:
    print("PASS loss/no-stuck-left")
else:
    print(f"FAIL loss/no-stuck-left: stuck now {settled['stuck']}")
stuck = {r["id"] for r in recs if r["type"] == "stuck"}
resolved = {r["id"] for r in recs if r["type"] == "resolved"}
if stuck - resolved:
    print(f"FAIL loss/stuck-resolved: {len(stuck - resolved)} of {len(stuck)} stuck never resolved")
else:
    print(f"PASS loss/stuck-resolved")
    print(f"# {len(stuck)} stuck records, all resolved")
vanished = sum(1 for r in recs if r["type"] == "flow" and "vanished" in (r.get("partial_reasons") or []))
print(f"# {vanished} flows closed out as vanished; reconcile: {settled.get('snapshot')}")
EOF
exit 0
