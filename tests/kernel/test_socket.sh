#!/usr/bin/env bash
# The live socket on a real kernel: a client reads hello, the snapshot
# (open flows with their owner, the stuck list, stats) and then the live
# records of real connections; a client that never reads costs the
# daemon nothing (no event lost, the JSON file complete) and is told what
# it missed; past --max-clients a client is refused in one line.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root socket
need_tools socket socat
WAIT="python3 $TOP/tests/kernel/jsonwait.py"
CLIENT="python3 $TOP/tests/kernel/sockclient.py"
STORM=${STORM:-$TOP/build/storm}

# jcheck NAME FILE EXPR: EXPR over `recs`, the JSON lines of FILE
jcheck() {
	check "$1" python3 -c "
import json, sys
recs = [json.loads(l) for l in open('$2') if l.strip()]
ok = ($3)
if not ok:
    print('types:', [r['type'] for r in recs][:12], file=sys.stderr)
assert ok" 
}

ns=$(ns_create sock)
out=$TMP/sock.jsonl
sock=$TMP/run/synfin.sock
start_synfin "$out" "$ns" --socket "$sock" --socket-group nogroup --max-clients 2 --stuck close_wait=1 -i 1
check socket-dir-created test -d "$TMP/run"
check socket-mode-0660 test "$(stat -c '%a %G' "$sock")" = "660 nogroup"

# a CLOSE_WAIT held by tcpctl, stuck after 1 s
ip netns exec "$ns" "$TCPCTL" close-wait --port 20301 --hold 9000 >"$TMP/cw.tcp" &
tcp=$!
cleanup_add "kill $tcp"
wait_line "$TMP/cw.tcp" '^hold' || fail socket-close-wait "tcpctl never held"
pid=$(sed -n 's/.*client_pid=\([0-9]*\).*/\1/p' "$TMP/cw.tcp" | head -n 1)
$WAIT "$out" 4 'r["type"]=="stuck" and r["local"]["port"]==20301' >/dev/null ||
	fail socket-stuck-first "no stuck record in the file"

# ---- socat: hello, snapshot, live -----------------------------------------
timeout 4 socat -u "UNIX-CONNECT:$sock" - >"$TMP/socat.jsonl" 2>"$TMP/socat.err" &
socat_pid=$!
cleanup_add "kill $socat_pid"
sleep 1
ip netns exec "$ns" "$TCPCTL" client-first --port 20302 --count 5 >/dev/null
wait "$socat_pid"
c=$TMP/socat.jsonl
jcheck socket-hello-first "$c" "recs[0]['type']=='hello' and recs[0]['host']=='$(hostname)' and recs[0]['version'] and recs[0]['capture']['segments'] is True and $(ns_inode "$ns") in recs[0]['capture']['netns']"
jcheck socket-snapshot-close-wait "$c" "any(r['type']=='open' and r['state']=='CLOSE_WAIT' and r['local']['port']==20301 and r['process']['comm']=='tcpctl' and r['process']['pid']==$pid and r['age_us']>=1000000 and r['stuck'] for r in recs)"
jcheck socket-snapshot-listener "$c" "any(r['type']=='open' and r['state']=='LISTEN' and r['local']['port']==20301 for r in recs)"
jcheck socket-snapshot-stuck "$c" "any(r['type']=='stuck' and r['state']=='CLOSE_WAIT' and r['local']['port']==20301 for r in recs)"
# the snapshot (open, stuck, stats) comes before anything live
jcheck socket-snapshot-order "$c" "[r['type'] for r in recs].index('stats') < min(i for i, r in enumerate(recs) if r['type']=='flow') and all(r['type'] in ('open','stuck') for r in recs[1:[r['type'] for r in recs].index('stats')])"
# every flow of the 5 connections, as the file has them (both ends)
jcheck socket-live-flows "$c" "sorted(r['id'] for r in recs if r['type']=='flow' and 20302 in (r['local']['port'], r['peer']['port'])) == sorted(r['id'] for r in (json.loads(l) for l in open('$out')) if r['type']=='flow' and 20302 in (r['local']['port'], r['peer']['port'])) and len([r for r in recs if r['type']=='flow' and r['peer']['port']==20302])==5"
jcheck socket-live-stats "$c" "sum(r['type']=='stats' for r in recs) >= 3"

# ---- a client that never reads, a second one, a third refused -------------
$CLIENT "$sock" "$TMP/slow.jsonl" "$TMP/slow.go" 2>"$TMP/slow.err" &
slow=$!
cleanup_add "kill $slow"
wait_line "$TMP/slow.jsonl.state" connected || fail socket-slow-client "it could not connect"
$CLIENT "$sock" "$TMP/second.jsonl" "$TMP/second.go" &
second=$!
cleanup_add "kill $second"
wait_line "$TMP/second.jsonl.state" connected || fail socket-second-client "it could not connect"
sleep 0.3
timeout 3 socat -u "UNIX-CONNECT:$sock" - >"$TMP/third.txt" 2>&1
jcheck socket-cap-refused "$TMP/third.txt" "len(recs)==1 and recs[0]['type']=='refused' and 'max-clients' in recs[0]['reason']"
touch "$TMP/second.go"
wait "$second"

# a storm while the slow client reads nothing: megabytes of records
res=$(ip netns exec "$ns" "$STORM" --port 20303 --max-conns 4000 --duration 30 --clients 2 --servers 2 --json | tail -n 1)
conns=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['conns'])" "$res" 2>/dev/null || echo 0)
ns_settle "$ns"
sleep 1
touch "$TMP/slow.go"
wait "$slow"
jcheck socket-slow-told "$TMP/slow.jsonl" "any(r['type']=='dropped' and r['lines']>0 for r in recs)"
# what it was told it missed is what the daemon counted (it missed
# nothing more once it caught up)
told=$(python3 -c "import json; print(sum(r['lines'] for r in map(json.loads, open('$TMP/slow.jsonl')) if r['type']=='dropped'))")
kill -USR1 "$SYNFIN_PID"
if $WAIT "$out" 3 "r['type']=='stats' and r['socket']['dropped']==$told and $told > 0" >/dev/null; then
	pass socket-slow-told-equals-stats
else
	fail socket-slow-told-equals-stats "told $told; stats: $(grep '"stats"' "$out" | tail -n 1 | grep -o '"socket":{[^}]*}')"
fi
stop_synfin
check socket-removed-at-exit test ! -e "$sock"
# nothing lost for the file: every connection of the storm, both ends
jcheck socket-slow-no-loss "$out" "[r for r in recs if r['type']=='stats'][-1]['events']['lost']==0 and $conns >= 1000"
jcheck socket-slow-file-complete "$out" "sum(1 for r in recs if r['type']=='flow' and 20303 in (r['local']['port'], r['peer']['port'])) == 2 * $conns"
