#!/usr/bin/env bash
# synfin top against a real daemon watching a test namespace with real
# traffic, two stuck CLOSE_WAITs and TIME_WAITs, driven in a tmux pane
# (send-keys, capture-pane): the counts by state, latency, TIME_WAIT by
# remote and CLOSE_WAIT by process against the log and ss, the stuck rows
# with their pid/comm, the sort keys, the filter narrowing, pause, a
# resize, diagrams asked of the daemon (both ends merged), q restoring the
# terminal; the daemon killed -> "disconnected", restarted -> back.
# --once as text. --standalone: the same view with the capture in top.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root top
need_tools top tmux ss

ns=$(ns_create top)
out=$TMP/top.jsonl
sock=$TMP/synfin.sock
JW="python3 $TOP/tests/kernel/jsonwait.py"
start_synfin "$out" "$ns" --socket "$sock" --stuck close_wait=1 -i 1

# two CLOSE_WAITs held by tcpctl (until the test ends), renamed so the filter has names to
# find; the second comes a second later (the list sorts by age)
ip netns exec "$ns" "$TCPCTL" close-wait --port 20401 --hold 240000 --comm leaky >"$TMP/cw.tcp" &
cleanup_add "kill $!"
wait_line "$TMP/cw.tcp" '^hold' || fail top-close-wait "tcpctl never held"
pid=$(sed -n 's/.*client_pid=\([0-9]*\).*/\1/p' "$TMP/cw.tcp" | head -n 1)
$JW "$out" 4 'r["type"]=="stuck" and r["local"]["port"]==20401' >/dev/null || fail top-stuck-first "no stuck record"
ip netns exec "$ns" "$TCPCTL" close-wait --port 20405 --hold 240000 --comm drippy >"$TMP/cw2.tcp" &
cleanup_add "kill $!"
wait_line "$TMP/cw2.tcp" '^hold' || fail top-close-wait-2 "tcpctl never held"
pid2=$(sed -n 's/.*client_pid=\([0-9]*\).*/\1/p' "$TMP/cw2.tcp" | head -n 1)
$JW "$out" 4 'r["type"]=="stuck" and r["local"]["port"]==20405' >/dev/null || fail top-stuck-second "no stuck record"
# three TIME_WAITs towards one remote (the client closes first)
ip netns exec "$ns" "$TCPCTL" client-first --port 20404 --count 3 >/dev/null 2>&1
$JW "$out" 4 'r["type"]=="flow" and r["role"]=="client" and r["peer"]["port"]==20404 and r["durations_us"].get("lifetime")' >/dev/null
sleep 1

# ---- --once, and a pipe: plain text ------------------------------------
"$SYNFIN" top --once --socket "$sock" >"$TMP/once.txt" 2>"$TMP/once.err"
check top-once-exit-0 test $? -eq 0
check top-once-header grep -q "^synfin .* on $(hostname) " "$TMP/once.txt"
check top-once-states grep -Eq '  CLOSE_WAIT +2( |$)' "$TMP/once.txt"
check top-once-stuck-row grep -Eq "^  CLOSE_WAIT +[0-9.]+s +127\.0\.0\.1:20401 +127\.0\.0\.1:[0-9]+ +$pid/leaky +$(ns_inode "$ns")" "$TMP/once.txt"
check top-once-no-escapes bash -c "! grep -q $'\e' '$TMP/once.txt'"
# the panels' numbers against the kernel (ss) and the log
tw=$(ip netns exec "$ns" ss -Htan state time-wait dst 127.0.0.1:20404 | wc -l)
check top-once-time-wait-count grep -Eq "  TIME_WAIT +$tw( |$)" "$TMP/once.txt"
check top-once-time-wait-remote grep -Eq "^  127\.0\.0\.1:20404 +$(ns_inode "$ns") +$tw$" "$TMP/once.txt"
cw_pids=$(ip netns exec "$ns" ss -Htanp state close-wait | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | sort | tr '\n' ' ')
check top-once-close-wait-by-ss test "$cw_pids" = "$(printf '%s\n' "$pid" "$pid2" | sort | tr '\n' ' ')"
check top-once-close-wait-head grep -q '^CLOSE_WAIT BY PROCESS (2 sockets, 2 processes)' "$TMP/once.txt"
check top-once-close-wait-leaky grep -Eq "^  $pid/leaky +1$" "$TMP/once.txt"
check top-once-close-wait-drippy grep -Eq "^  $pid2/drippy +1$" "$TMP/once.txt"
nconn=$(python3 -c "
import json
print(sum(1 for l in open('$out') if json.loads(l)['type'] == 'flow' and 'connect' in json.loads(l)['durations_us']))")
maxc=$(python3 -c "
import json
print(max(json.loads(l)['durations_us']['connect'] for l in open('$out') if json.loads(l)['type'] == 'flow' and 'connect' in json.loads(l)['durations_us']))")
check top-once-connect-count grep -Eq "^  connect +$nconn flows +p50 .* max $maxc us " "$TMP/once.txt"
check top-once-histogram grep -Eq '^  connect .* [0-9]+us \|[ .:=+*#-]*#[ .:=+*#-]*\| [0-9]+(us|ms)$' "$TMP/once.txt"
"$SYNFIN" top --socket "$sock" | cat >"$TMP/pipe.txt"
check top-pipe-is-once grep -q '^STUCK (2)' "$TMP/pipe.txt"
"$SYNFIN" top --socket "$TMP/none.sock" >/dev/null 2>"$TMP/none.err"
rc=$?
check top-no-daemon-exit-1 test "$rc" -eq 1
check top-no-daemon-says-how grep -q 'no synfin daemon at .*start one' "$TMP/none.err"

# ---- the full-screen view in tmux --------------------------------------
tsock=$TMP/tmux.sock
T() { tmux -S "$tsock" "$@"; }
T new-session -d -s top -x 160 -y 50 "bash --norc"
cleanup_add "tmux -S $tsock kill-server"
T send-keys -t top "stty -g > $TMP/stty.before; $SYNFIN top --socket $sock; echo top-exited-\$?; stty -g > $TMP/stty.after" Enter
screen() { T capture-pane -p -t top >"$TMP/screen.txt"; }
# screen_wait NAME REGEX [SECS]: PASS when the pane shows REGEX
screen_wait() {
	local i
	for ((i = 0; i < ${3:-5} * 10; i++)); do
		screen
		if grep -Eq "$2" "$TMP/screen.txt"; then
			pass "$1"
			return 0
		fi
		sleep 0.1
	done
	fail "$1" "the screen never showed /$2/: $(head -c 600 "$TMP/screen.txt" | tr '\n' '|')"
	return 1
}
# line NAME REGEX: the line number of REGEX on the last screen (0: none)
line() { grep -En "$1" "$TMP/screen.txt" | head -n 1 | cut -d: -f1 | sed 's/^$/0/'; }
screen_wait top-header "^synfin .* on $(hostname) .*events/s"
screen_wait top-loss-visible '^loss: events 0 '
screen_wait top-state-count '  CLOSE_WAIT +2( |$)'
screen_wait top-stuck-row "CLOSE_WAIT +[0-9.]+s +127\.0\.0\.1:20401 .* $pid/leaky"
screen_wait top-time-wait-panel "^  127\.0\.0\.1:20404 +$(ns_inode "$ns") +$tw$"
screen_wait top-close-wait-panel "^  $pid2/drippy +1$"
# refused connects while it watches: abnormal closes for the recent list
ip netns exec "$ns" "$TCPCTL" refused --port 20402 --count 3 >/dev/null 2>&1
screen_wait top-recent-refused '^  refused +127\.0\.0\.1:[0-9]+ +127\.0\.0\.1:20402'
# SYNFIN_TOP_SCREENS=DIR keeps the captured screens (for the docs)
[ -n "${SYNFIN_TOP_SCREENS:-}" ] && cp "$TMP/screen.txt" "$SYNFIN_TOP_SCREENS/top.txt"

# sorting: by age the older (leaky) first; the order holds from one
# refresh to the next; by local port reversed, 20405 first
check top-sort-age-oldest-first test "$(line ':20401 ')" -lt "$(line ':20405 ')"
order1=$(grep -Eo '(leaky|drippy)' "$TMP/screen.txt" | head -n 2 | tr '\n' ' ')
sleep 1.2
screen
check top-sort-stable test "$order1" = "$(grep -Eo '(leaky|drippy)' "$TMP/screen.txt" | head -n 2 | tr '\n' ' ')"
T send-keys -t top '>'
screen_wait top-sort-local '^STUCK \(2\)  sort: LOCAL'
check top-sort-local-order test "$(line ':20401 ')" -lt "$(line ':20405 ')"
T send-keys -t top s
screen_wait top-sort-reverse '^STUCK \(2\)  sort: LOCAL, descending'
check top-sort-reverse-order test "$(line ':20405 ')" -lt "$(line ':20401 ')"
T send-keys -t top '<' s
screen_wait top-sort-back '^STUCK \(2\)  sort: AGE, oldest first'

# the filter: a port no row has empties the stuck list; the comm finds it
T send-keys -t top / 9999 Enter
screen_wait top-filter-narrows '^STUCK \(0\)  sort: AGE, oldest first  filter: 9999'
T send-keys -t top / leaky Enter
screen_wait top-filter-by-comm '^STUCK \(1\)  sort: .*filter: leaky'
T send-keys -t top / Escape
screen_wait top-filter-cleared '^STUCK \(2\)  sort: AGE, oldest first *$'

# pause: new refused connects do not show until resumed
T send-keys -t top p
screen_wait top-paused 'PAUSED'
ip netns exec "$ns" "$TCPCTL" refused --port 20403 --count 2 >/dev/null 2>&1
sleep 2
screen
check top-pause-freezes test "$(grep -c '20403' "$TMP/screen.txt")" -eq 0
T send-keys -t top p
screen_wait top-resumed '20403'

# a resize: the screen redraws to the new size, the key bar on its last line
T resize-window -t top -x 80 -y 24
screen_wait top-resize-small '^ \? help  q quit' 3
check top-resize-rows test "$(wc -l <"$TMP/screen.txt")" -le 24
check top-resize-cols test "$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$TMP/screen.txt")" -le 80
check top-resize-bar-last test "$(sed -n 24p "$TMP/screen.txt" | grep -c 'q quit')" -eq 1
T resize-window -t top -x 160 -y 50
screen_wait top-resize-back '^RECENT ABNORMAL CLOSES'

# help, then a diagram: Down past the two stuck rows to a refused connect,
# Enter asks the daemon for its full record
T send-keys -t top '?'
screen_wait top-help 'synfin top: keys'
T send-keys -t top x
T send-keys -t top Down Down Enter
screen_wait top-diagram 'any key: back'
screen_wait top-diagram-rst '^record: client [0-9a-f]+ .*no record of the server'
check top-diagram-refused grep -q 'RST \[RA\]' "$TMP/screen.txt"
[ -n "${SYNFIN_TOP_SCREENS:-}" ] && cp "$TMP/screen.txt" "$SYNFIN_TOP_SCREENS/diagram.txt"
T send-keys -t top x
screen_wait top-diagram-back '^RECENT ABNORMAL CLOSES'
# a reset: both ends are here, the daemon's answer holds both records
ip netns exec "$ns" "$TCPCTL" reset --port 20406 >/dev/null 2>&1
T send-keys -t top / 20406 Enter
screen_wait top-reset-listed '^> reset +127\.0\.0\.1'
T send-keys -t top Enter
screen_wait top-diagram-both-ends '^records: client [0-9a-f]+ .*, server [0-9a-f]+ '
T send-keys -t top x / Escape
# Enter on a stuck row: the flow is still open, the daemon says so
T send-keys -t top Up Up Up Up Enter
screen_wait top-diagram-open 'is still open \(CLOSE_WAIT\)'
T send-keys -t top x

# the daemon goes away, then comes back
stop_synfin
screen_wait top-disconnected 'disconnected' 5
start_synfin "$out.2" "$ns" --socket "$sock" --stuck close_wait=1 -i 1
# the last screen stays up while disconnected: back is the key bar again,
# then the new daemon's counts and its stuck rows (found at its start-up)
screen_wait top-reconnected '^ \? help  q quit' 10
screen_wait top-reconnected-counts '  CLOSE_WAIT +2( |$)'
screen_wait top-reconnected-stuck "CLOSE_WAIT .* $pid/leaky" 5

# q: exit 0, the terminal as it was (same stty, not in the alternate screen)
T send-keys -t top q
screen_wait top-quit-exit-0 'top-exited-0'
wait_line "$TMP/stty.after" . && check top-terminal-restored cmp -s "$TMP/stty.before" "$TMP/stty.after"
check top-normal-screen test "$(T display -p -t top '#{alternate_on}')" = 0

# SIGTERM: the terminal restored too
T send-keys -t top "$SYNFIN top --socket $sock; echo top-exited-\$?; stty -g > $TMP/stty.after2" Enter
screen_wait top-again '^synfin .*events/s'
pkill_top=$(pgrep -f "synfin top --socket $sock" | head -n 1)
[ -n "$pkill_top" ] && kill -TERM "$pkill_top"
screen_wait top-sigterm-exit 'top-exited-0'
wait_line "$TMP/stty.after2" . && check top-sigterm-restored cmp -s "$TMP/stty.before" "$TMP/stty.after2"
stop_synfin

# --standalone: no daemon, the capture in top's own process (its loop, no
# socket), scoped to the test's namespace; q takes the hooks down with it
T send-keys -t top "$SYNFIN top --standalone -- --netns /var/run/netns/$ns --stuck close_wait=1; echo top-exited-\$?; stty -g > $TMP/stty.after3" Enter
screen_wait top-standalone-header '^synfin .* on .*events/s' 10
screen_wait top-standalone-states '  CLOSE_WAIT +2( |$)' 5
screen_wait top-standalone-close-wait "^  $pid2/drippy +1$" 5
screen_wait top-standalone-stuck "CLOSE_WAIT .* $pid/leaky" 5
T send-keys -t top q
screen_wait top-standalone-exit-0 'top-exited-0' 10
wait_line "$TMP/stty.after3" . && check top-standalone-restored cmp -s "$TMP/stty.before" "$TMP/stty.after3"
check top-standalone-gone bash -c "! pgrep -f '[s]ynfin top --standalone -- --netns /var/run/netns/$ns'"
# without root: one line naming the capability
expect top-standalone-no-root 3 'missing capability CAP_BPF' \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$SYNFIN" top --standalone --once -- --netns "/var/run/netns/$ns"
check top-standalone-no-root-one-line test "$(wc -l <"$TMP/err")" -eq 1
expect top-standalone-no-socket 2 'no --socket' "$SYNFIN" top --standalone --socket "$sock"
