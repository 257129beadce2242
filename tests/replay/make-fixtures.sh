#!/usr/bin/env bash
# Regenerates the recorded fixtures (root): real connections in a fresh
# netns, recorded with --record, plus variants derived from that recording
# (events reordered, duplicated, cut short; server children's births folded,
# a no-op on a recording made since event version 3, which folds them
# already). Review the new expected outputs by hand before committing them:
# they are the golden truth.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$TOP/tests/replay"

ns=$(ns_create fixtures)
"$SYNFIN" --netns "/var/run/netns/$ns" -i 0 -o /dev/null --record lifecycle.rec 2>"$TMP/err" &
pid=$!
cleanup_add "kill -INT $pid"
for _ in $(seq 100); do grep -q capturing "$TMP/err" && break; sleep 0.05; done
ip netns exec "$ns" "$TCPCTL" client-first --port 20001 --linger-ms 20 >/dev/null
ip netns exec "$ns" "$TCPCTL" server-first --port 20002 --linger-ms 20 >/dev/null
ip netns exec "$ns" "$TCPCTL" refused --port 20003 >/dev/null
ip netns exec "$ns" "$TCPCTL" reset --port 20004 >/dev/null
ip netns exec "$ns" "$TCPCTL" client-first --addr ::1 --port 20005 --linger-ms 20 >/dev/null
sleep 0.3
kill -INT $pid
wait $pid
python3 derive.py lifecycle.rec
for f in *.rec; do
	"$SYNFIN" --replay "$f" --detail segments --summary-interval 0 >"${f%.rec}.expected.jsonl" 2>"${f%.rec}.expected.err" || true
done
