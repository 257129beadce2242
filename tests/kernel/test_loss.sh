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
	--stuck fin_wait_2=2 --stuck last_ack=2 --pileup-close-wait 5 --socket "$TMP/live.sock" || { fail loss/setup "synfin did not start: $(cat "$OUT.err")"; exit 0; }

# a live socket viewer: loss records go to every output
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
with open(sys.argv[2], "wb") as f:
    for b in iter(lambda: s.recv(65536), b""):
        f.write(b)
        f.flush()
' "$TMP/live.sock" "$TMP/live.jsonl" 2>"$TMP/live.err" &
VIEWER=$!
cleanup_add "stop_pid $VIEWER TERM 2"
wait_line "$TMP/live.jsonl" '"type":"hello"' || fail loss/viewer "no greeting on the live socket: $(cat "$TMP/live.err")"
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
stop_at=$EPOCHREALTIME
cleanup_add "kill -CONT $SYNFIN_PID"
sleep 2
kill -CONT "$SYNFIN_PID"
cont_at=$EPOCHREALTIME
wait "$STORM_PID" || fail loss/storm "storm failed: $(tail -n 2 "$TMP/storm.out" | tr '\n' ' ')"

# settled: a few rounds after the storm, with the held connections still open
sleep 4
kernel=$(ip netns exec "$ns" ss -tanH | awk '$1 != "TIME-WAIT" { n[$1]++ } END { for (s in n) print s, n[s] }')
settled_at=$EPOCHREALTIME
ip netns exec "$ns" ss -tanH >"$TMP/ss.txt"
sleep 1.5
kill -USR1 "$SYNFIN_PID" 2>/dev/null # a stats line now, where supported
sleep 0.5
stop_synfin || fail loss/exit "synfin exited $?"

# the viewer reads to the end (synfin closed the socket), then exits
for _ in $(seq 50); do kill -0 "$VIEWER" 2>/dev/null || break; sleep 0.1; done
stop_pid $VIEWER TERM 2
PYTHONPATH=$TOP/tests/kernel python3 - "$OUT" "$kernel" "$cont_at" "$settled_at" "$stop_at" "$TMP/live.jsonl" <<'EOF'
import datetime, json, sys
import jsonlines
recs = jsonlines.load(sys.argv[1], "loss/json")
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
# the in-band loss records: as soon as loss is seen, at most one a second,
# every lost event in one of them, where it was lost, which flows
def t(r, k="time"):
    return datetime.datetime.strptime(r[k], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
loss = [r for r in recs if r["type"] == "loss"]
final = stats[-1]
if not loss:
    print("FAIL loss/record: no loss record")
else:
    cont = float(sys.argv[3])
    print("# events.lost by stats time (s from SIGCONT):", " ".join(
        "%.1f:%d" % (t(r) - cont, r["events"]["lost"]) for r in stats))
    print("# loss records at (s from SIGCONT):", " ".join("%.2f" % (t(r) - cont) for r in loss))
    # the first record once the daemon runs again (loss during a storm
    # before the stop has records of its own)
    first = min((t(r) - cont for r in loss if t(r) > float(sys.argv[5]) + 0.5), default=99)
    print(f"# {len(loss)} loss records, the first after the stop {first:.2f} s after SIGCONT; first: "
          f"lost {loss[0]['lost']}, where {json.dumps(loss[0]['where'])}, "
          f"partial flows {loss[0]['partial_flows']['count']}")
    if first <= 1.5:
        print("PASS loss/record-soon")
    else:
        print(f"FAIL loss/record-soon: first loss record {first:.2f} s after SIGCONT")
    total = sum(r["lost"] for r in loss)
    if total == final["events"]["lost"] == loss[-1]["total"]:
        print("PASS loss/record-accounts-all")
    else:
        print(f"FAIL loss/record-accounts-all: loss records sum {total}, last total "
              f"{loss[-1]['total']}, stats events.lost {final['events']['lost']}")
    bad = [r for r in loss if sum(r["where"]["ringbuf_reserve_failed_by_ring"]) != r["where"]["ringbuf_reserve_failed"]
           or r["lost"] != r["where"]["ringbuf_reserve_failed"] + r["where"]["recursion_misses"]]
    if bad:
        print(f"FAIL loss/record-where: {json.dumps(bad[0])[:300]}")
    else:
        print("PASS loss/record-where")
    gaps = [t(b) - t(a) for a, b in zip(loss[:-1], loss[1:-1])]
    if any(g < 0.99 for g in gaps):
        print(f"FAIL loss/record-rate: loss records {min(gaps):.3f} s apart")
    else:
        print("PASS loss/record-rate")
    ids = {i for r in loss for i in r["partial_flows"]["ids"]}
    flows = {r["id"]: r for r in recs if r["type"] == "flow"}
    wrong = [i for i in ids if i in flows and "events_lost" not in (flows[i].get("partial_reasons") or [])]
    if not loss[0]["partial_flows"]["count"] or wrong:
        print(f"FAIL loss/record-flows: count {loss[0]['partial_flows']['count']}, "
              f"{len(wrong)} named flows whose record does not say events_lost")
    else:
        print("PASS loss/record-flows")
live = []
for l in open(sys.argv[6], errors="replace").read().splitlines():
    try:
        live.append(json.loads(l))
    except ValueError:
        pass
live_loss = [(r["time"], r["lost"]) for r in live if r["type"] == "loss"]
dropped = sum(r.get("lines", 0) for r in live if r["type"] == "dropped")
# a viewer that falls behind loses lines (told by `dropped`), never a loss record
if loss and live_loss == [(r["time"], r["lost"]) for r in loss]:
    print("PASS loss/record-on-live-socket")
    print(f"# the viewer got all {len(loss)} loss records; {dropped} other lines dropped (slow viewer)")
else:
    print(f"FAIL loss/record-on-live-socket: viewer got {len(live_loss)} loss records of {len(loss)}, {dropped} lines dropped; got {live_loss}, file {[(r['time'], r['lost']) for r in loss]}; live types {sorted(set(r['type'] for r in live))}, last live {live[-1]['type'] if live else None} {live[-1].get('time') if live else None}")
# pile-ups: none may stay open that the kernel's list does not bear out
# (no CLOSE-WAIT is left once settled: no close_wait pile-up is active)
settled_t = float(sys.argv[4])
active = {}
for r in recs:
    if r["type"] != "pileup" or t(r) > settled_t:
        continue
    k = (r["kind"], json.dumps(r.get("peer")), (r.get("process") or {}).get("pid"))
    active[k] = r["event"] == "start"
open_pu = [k for k, v in active.items() if v and k[0] == "close_wait_per_process"]
if "CLOSE_WAIT" in kernel:
    print(f"SKIP loss/pileups-end: {kernel['CLOSE_WAIT']} CLOSE-WAIT left in the kernel")
elif open_pu:
    print(f"FAIL loss/pileups-end: {len(open_pu)} close_wait pile-ups still open, ss has no CLOSE-WAIT")
else:
    print(f"PASS loss/pileups-end")
    print(f"# {sum(1 for r in recs if r['type'] == 'pileup' and r['event'] == 'start')} pile-ups started, all ended")
vanished = sum(1 for r in recs if r["type"] == "flow" and "vanished" in (r.get("partial_reasons") or []))
print(f"# {vanished} flows closed out as vanished; reconcile: {settled.get('snapshot')}")
EOF
exit 0
