#!/usr/bin/env bash
# No blind window at start-up. A listener and a connection are born every
# 10 ms before, while and after synfin starts (tests/kernel/startup_gen.py),
# all held open. What exists once synfin runs (`ss` in the namespace) is
# the oracle: every listener has exactly one listen start record, and every
# connection's two ends (client, server child) exactly one flow record each
# once they are closed; none reported twice, every line valid JSON. The
# stats say how many sockets were seen both by the snapshot and by events
# (deduplicated) and how many could not be attributed.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root startup
PORT=21700

ns=$(ns_create startup) || { fail startup/setup "ip netns add failed"; exit 0; }
OUT=$TMP/startup.jsonl
ip netns exec "$ns" python3 "$TOP/tests/kernel/startup_gen.py" "$PORT" "$TMP/go" "$TMP/close" \
	>"$TMP/gen.out" 2>&1 &
GEN=$!
cleanup_add "stop_pid $GEN TERM 5"
wait_line "$TMP/gen.out" '^started' || { fail startup/gen "$(tr '\n' ' ' <"$TMP/gen.out")"; exit 0; }
sleep 0.3 # sockets from before the start: the snapshot's
t0=$(date +%s%N)
start_synfin "$OUT" "$ns" -i 0 || { fail startup/start "synfin did not start: $(cat "$OUT.err")"; exit 0; }
echo "# synfin ready in $((($(date +%s%N) - t0) / 1000000)) ms"
touch "$TMP/go"
wait_line "$TMP/gen.out" '^done' 100 || { fail startup/gen "$(tr '\n' ' ' <"$TMP/gen.out")"; exit 0; }
grep '^done' "$TMP/gen.out" | sed 's/^/# generator: /'
ip netns exec "$ns" ss -tanH >"$TMP/ss.txt"
touch "$TMP/close"
wait_line "$TMP/gen.out" '^closed' 100 || fail startup/gen-close "$(tr '\n' ' ' <"$TMP/gen.out")"
ns_settle "$ns"
# the flow records of both ends of every connection: their time-wait
# hand-overs end when the peer's FIN is seen
want=$(awk '$1 == "ESTAB"' "$TMP/ss.txt" | wc -l)
for _ in $(seq 100); do
	n=$(grep -c '"type":"flow"' "$OUT" 2>/dev/null)
	[ "${n:-0}" -ge "$want" ] && break
	sleep 0.1
done
kill -USR1 "$SYNFIN_PID"
sleep 0.3
stop_synfin || fail startup/exit "synfin exited $?: $(tail -n 2 "$OUT.err" | tr '\n' ' ')"

PYTHONPATH=$TOP/tests/kernel python3 - "$OUT" "$TMP/ss.txt" "$PORT" <<'EOF'
import collections, json, sys
out, ss, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
import jsonlines
recs = jsonlines.load(out, "startup/json")

def ep(s):
    a, p = s.rsplit(":", 1)
    return a.strip("[]"), int(p)

listeners, conns = set(), set()
for line in open(ss):
    f = line.split()
    if f[0] == "LISTEN":
        listeners.add(ep(f[3]))
    elif f[0] == "ESTAB":
        conns.add((ep(f[3]), ep(f[4])))
key = lambda e: (e["address"], e["port"])
starts = collections.Counter(key(r["local"]) for r in recs if r["type"] == "listen" and r["event"] == "start")
flows = collections.Counter((key(r["local"]), key(r["peer"])) for r in recs if r["type"] == "flow")
pre = sum(1 for r in recs if r["type"] == "listen" and r["event"] == "start" and r.get("pre_existing"))
print(f"# ss: {len(listeners)} listeners ({pre} reported pre-existing), {len(conns)} connection ends")

def verdict(name, want, seen):
    missed = [w for w in want if seen[w] == 0]
    twice = [w for w in want if seen[w] > 1]
    if missed:
        print(f"FAIL startup/{name}-all-reported: {len(missed)} of {len(want)} never reported, e.g. {missed[:3]}")
    else:
        print(f"PASS startup/{name}-all-reported")
    if twice:
        print(f"FAIL startup/{name}-none-twice: {len(twice)} reported more than once, e.g. {twice[:3]}")
    else:
        print(f"PASS startup/{name}-none-twice")

if len(listeners) < 100 or len(conns) < 200:
    print(f"FAIL startup/enough: only {len(listeners)} listeners and {len(conns)} ends: proves little")
verdict("listeners", listeners, starts)
verdict("connections", conns, flows)
stats = [r for r in recs if r["type"] == "stats"]
snap = stats[-1]["snapshot"] if stats else {}
print(f"# snapshot: {json.dumps(snap)}")
if not stats or "overlap" not in snap:
    print("FAIL startup/overlap-counted: no snapshot.overlap in the stats")
elif snap["overlap"] == 0:
    print("FAIL startup/overlap-counted: no socket was seen both ways: the window was not exercised")
else:
    print("PASS startup/overlap-counted")
EOF

# bad input at start-up: an inode no namespace has is an error (exit 2,
# one line); an interface not there (yet) a warning, and synfin runs
expect startup/unknown-netns-inode 2 '^synfin: --netns 12345: no network namespace has this inode' \
	timeout 20 "$SYNFIN" --netns 12345 -o /dev/null --no-socket
if start_synfin "$TMP/if.jsonl" "$ns" --interface sfnosuch0; then
	check startup/unknown-interface-warned grep -q -- '--interface sfnosuch0: no such interface' "$TMP/if.jsonl.err"
	stop_synfin
else
	fail startup/unknown-interface-warned "synfin did not start: $(tr '\n' ' ' <"$TMP/if.jsonl.err")"
fi
exit 0
