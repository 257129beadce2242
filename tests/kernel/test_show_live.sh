#!/usr/bin/env bash
# synfin show ID against a running daemon (--recent): real connections in a
# test namespace; the daemon's answer drawn exactly as the same record from
# the log is, both ends merged; a flow not written to the log (--flows none)
# still drawn in full; the ring's bound, an open flow, --recent 0 and bad
# requests answered with an error record.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root show-live

ns=$(ns_create showlive)
out=$TMP/log.jsonl
sock=$TMP/synfin.sock
ASK="python3 $TOP/tests/kernel/askclient.py"
start_synfin "$out" "$ns" --socket "$sock" --recent 8 --stuck close_wait=1

ip netns exec "$ns" "$TCPCTL" client-first --port 20501 >/dev/null 2>&1
ip netns exec "$ns" "$TCPCTL" reset --port 20502 >/dev/null 2>&1
ip netns exec "$ns" "$TCPCTL" refused --port 20503 >/dev/null 2>&1
ns_settle "$ns"
# id_of PORT ROLE: the id of the flow record of that end
id_of() {
	python3 -c "
import json, sys
for l in open('$out'):
    r = json.loads(l)
    if r['type'] == 'flow' and r['role'] == '$2' and $1 in (r['local']['port'], r['peer']['port']):
        print(r['id']); break"
}
JW="python3 $TOP/tests/kernel/jsonwait.py"
$JW "$out" 5 'r["type"]=="flow" and r["close"]=="refused"' >/dev/null || fail show-live-log "no refused flow in the log"
for kind in 20501:normal 20502:reset; do
	port=${kind%%:*}
	cid=$(id_of "$port" client)
	sid=$(id_of "$port" server)
	"$SYNFIN" show --color never --socket "$sock" "$cid" >"$TMP/live-$port.txt" 2>"$TMP/live-$port.err"
	check "show-live-${kind#*:}-exit-0" test $? -eq 0
	"$SYNFIN" show --color never --id "$cid" "$out" >"$TMP/file-$port.txt" 2>/dev/null
	# the same diagram from the daemon's ring as from the full record in the log
	check "show-live-${kind#*:}-same-as-log" cmp "$TMP/live-$port.txt" "$TMP/file-$port.txt"
	check "show-live-${kind#*:}-both-ends" grep -q "^records: client $cid .*, server $sid " "$TMP/live-$port.txt"
	# --id ID and no file: the daemon too
	"$SYNFIN" show --color never --socket "$sock" --id "$sid" >"$TMP/live-id-$port.txt" 2>&1
	check "show-live-${kind#*:}-by-server-id" grep -q "^records: client $cid .*, server $sid " "$TMP/live-id-$port.txt"
done
check show-live-reset-drawn grep -q 'RST' "$TMP/live-20502.txt"
rid=$(id_of 20503 client)
"$SYNFIN" show --color never --socket "$sock" "$rid" >"$TMP/live-ref.txt" 2>&1
check show-live-refused grep -q "no record of the server" "$TMP/live-ref.txt"

# an open flow: said so, with its state (its id: from its stuck record)
ip netns exec "$ns" "$TCPCTL" close-wait --port 20504 --hold 30000 >"$TMP/cw.tcp" 2>&1 &
cw=$!
cleanup_add "kill $cw 2>/dev/null"
oid=$($JW "$out" 5 'r["type"]=="stuck" and r["local"]["port"]==20504' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
expect show-live-open 1 "flow $oid is still open \(CLOSE_WAIT\)" "$SYNFIN" show --socket "$sock" "$oid"

# bad requests: one error record each, and the connection goes on
$ASK "$sock" 'not json' '{"get":"nothing"}' '{"get":"flow","id":"XYZ"}' '{"get":"top","n":4294967306}' '{"get":"top","n":3}' >"$TMP/ask.txt"
check show-live-ask-answers test $? -eq 0
check show-live-bad-json grep -q '"type":"error".*"error":"bad_request","message":"a request is one JSON object' "$TMP/ask.txt"
check show-live-bad-get grep -q '"error":"bad_request","message":"\\"get\\": flow or top"' "$TMP/ask.txt"
check show-live-bad-id grep -q '"get":"flow","error":"bad_request"' "$TMP/ask.txt"
# 2^32 + 10 is not 10 (it was narrowed to int before the range check)
check show-live-bad-n grep -q '"get":"top","error":"bad_request","message":"\\"n\\": the keys per list' "$TMP/ask.txt"
check show-live-top-after-errors grep -q '"type":"reply".*"get":"top".*"close_wait":{"sockets":1,' "$TMP/ask.txt"
kill "$cw" 2>/dev/null

# the ring keeps 8: after eight more flows the first is gone, said so
first=$(id_of 20501 client)
ip netns exec "$ns" "$TCPCTL" refused --port 20505 --count 8 >/dev/null 2>&1
ns_settle "$ns"
sleep 0.3
expect show-live-ring-bound 1 "no flow $first among the last 8 finished \(--recent 8\)" \
	"$SYNFIN" show --socket "$sock" "$first"
stop_synfin

# --flows none: no flow record anywhere, but a stuck record names the flow;
# once it ended, the daemon draws it whole, both ends
start_synfin "$out.2" "$ns" --socket "$sock" --flows none --stuck close_wait=1
ip netns exec "$ns" "$TCPCTL" close-wait --port 20506 --hold 1500 >/dev/null 2>&1
sid=$($JW "$out.2" 5 'r["type"]=="stuck" and r["local"]["port"]==20506' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
ns_settle "$ns"
$JW "$out.2" 5 'r["type"]=="resolved" and r["id"]=="'"$sid"'"' >/dev/null
sleep 0.3
"$SYNFIN" show --color never --socket "$sock" "$sid" >"$TMP/none.txt" 2>&1
check show-live-none-drawn grep -q "^records: client [0-9a-f]* .*, server $sid " "$TMP/none.txt"
check show-live-none-close-wait grep -q 'CLOSE_WAIT' "$TMP/none.txt"
check show-live-none-not-in-log test "$(grep -c '"type":"flow"' "$out.2")" -eq 0
stop_synfin

# --recent 0: nothing kept, said so
start_synfin "$out.3" "$ns" --socket "$sock" --recent 0
expect show-live-recent-0 1 'keeps no finished flows \(--recent 0\)' "$SYNFIN" show --socket "$sock" 0123456789abcdef
stop_synfin
expect show-live-no-daemon 1 "no synfin daemon at $TMP/none.sock" "$SYNFIN" show --socket "$TMP/none.sock" 0123456789abcdef
