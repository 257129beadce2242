#!/usr/bin/env bash
# synfin top against a real daemon watching a test namespace with real
# traffic and a stuck CLOSE_WAIT, driven in a tmux pane (send-keys,
# capture-pane): the counts by state, the stuck row with its pid/comm, the
# filter narrowing, pause, a diagram, q restoring the terminal; the daemon
# killed -> "disconnected", restarted -> back. --once as text.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root top
need_tools top tmux

ns=$(ns_create top)
out=$TMP/top.jsonl
sock=$TMP/synfin.sock
start_synfin "$out" "$ns" --socket "$sock" --stuck close_wait=1 -i 1

# a CLOSE_WAIT held 40 s by tcpctl, renamed so the filter has a name to find
ip netns exec "$ns" "$TCPCTL" close-wait --port 20401 --hold 40000 --comm leaky >"$TMP/cw.tcp" &
tcp=$!
cleanup_add "kill $tcp"
wait_line "$TMP/cw.tcp" '^hold' || fail top-close-wait "tcpctl never held"
pid=$(sed -n 's/.*client_pid=\([0-9]*\).*/\1/p' "$TMP/cw.tcp" | head -n 1)
python3 "$TOP/tests/kernel/jsonwait.py" "$out" 4 'r["type"]=="stuck" and r["local"]["port"]==20401' >/dev/null ||
	fail top-stuck-first "no stuck record in the file"

# ---- --once, and a pipe: plain text ------------------------------------
"$SYNFIN" top --once --socket "$sock" >"$TMP/once.txt" 2>"$TMP/once.err"
check top-once-exit-0 test $? -eq 0
check top-once-header grep -q "^synfin .* on $(hostname) " "$TMP/once.txt"
check top-once-states grep -Eq '^  CLOSE_WAIT +1$' "$TMP/once.txt"
check top-once-stuck-row grep -Eq "^  CLOSE_WAIT +[0-9.]+s +127\.0\.0\.1:20401 +127\.0\.0\.1:[0-9]+ +$pid/leaky +$(ns_inode "$ns")" "$TMP/once.txt"
check top-once-no-escapes bash -c "! grep -q $'\e' '$TMP/once.txt'"
"$SYNFIN" top --socket "$sock" | cat >"$TMP/pipe.txt"
check top-pipe-is-once grep -q '^STUCK (1)' "$TMP/pipe.txt"
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
screen_wait top-header "^synfin .* on $(hostname) .*events/s"
screen_wait top-loss-visible '^loss: events 0 '
screen_wait top-state-count '^  CLOSE_WAIT +1$'
screen_wait top-stuck-row "CLOSE_WAIT +[0-9.]+s +127\.0\.0\.1:20401 .* $pid/leaky"
# refused connects while it watches: abnormal closes for the recent list
ip netns exec "$ns" "$TCPCTL" refused --port 20402 --count 3 >/dev/null 2>&1
screen_wait top-recent-refused '^  refused +127\.0\.0\.1:[0-9]+ +127\.0\.0\.1:20402'
cp "$TMP/screen.txt" "$TMP/screen-first.txt"
# SYNFIN_TOP_SCREENS=DIR keeps the captured screens (for the docs)
[ -n "${SYNFIN_TOP_SCREENS:-}" ] && cp "$TMP/screen.txt" "$SYNFIN_TOP_SCREENS/top.txt"

# the filter: a port no row has empties the stuck list; the comm finds it
T send-keys -t top / 9999 Enter
screen_wait top-filter-narrows '^STUCK \(0\)  filter: 9999'
T send-keys -t top / leaky Enter
screen_wait top-filter-by-comm '^STUCK \(1\)  filter: leaky'
T send-keys -t top / Escape
screen_wait top-filter-cleared '^STUCK \(1\) *$'

# pause: new refused connects do not show until resumed
T send-keys -t top p
screen_wait top-paused 'PAUSED'
before=$(grep -c '^  refused' "$TMP/screen.txt")
ip netns exec "$ns" "$TCPCTL" refused --port 20403 --count 2 >/dev/null 2>&1
sleep 2
screen
check top-pause-freezes test "$(grep -c '20403' "$TMP/screen.txt")" -eq 0
T send-keys -t top p
screen_wait top-resumed '20403'

# help, then a diagram of the selected recent close
T send-keys -t top '?'
screen_wait top-help 'synfin top: keys'
T send-keys -t top x
T send-keys -t top Enter
screen_wait top-diagram 'any key: back'
check top-diagram-rst grep -q 'RST' "$TMP/screen.txt"
[ -n "${SYNFIN_TOP_SCREENS:-}" ] && cp "$TMP/screen.txt" "$SYNFIN_TOP_SCREENS/diagram.txt"
T send-keys -t top x
screen_wait top-diagram-back '^RECENT ABNORMAL CLOSES'

# the daemon goes away, then comes back
stop_synfin
screen_wait top-disconnected 'disconnected' 5
start_synfin "$out.2" "$ns" --socket "$sock" --stuck close_wait=1 -i 1
# the last screen stays up while disconnected: back is the key bar again,
# then the new daemon's counts and its stuck row (found at its start-up)
screen_wait top-reconnected '^ \? help  q quit' 10
screen_wait top-reconnected-counts "^  CLOSE_WAIT +1$"
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
