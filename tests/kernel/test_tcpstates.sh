#!/usr/bin/env bash
# Cross-check synfin against bcc's tcpstates (Debian libbpf-tools): for each
# socket the test made, the transitions tcpstates printed must be the ones
# synfin's path implies, and the time spent in each state must agree.
#
# tracefs may not be mounted on the host and tcpstates attaches a classic
# tracepoint, so it runs in a private mount namespace with its own tracefs
# mount: the host's mounts are untouched.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root tcpstates

TCPSTATES=${TCPSTATES:-/usr/sbin/tcpstates}
if [ ! -x "$TCPSTATES" ]; then
	if [ "${CI:-}" = true ]; then
		fail tcpstates "$TCPSTATES missing (apt-get install libbpf-tools)"
	else
		skip tcpstates "$TCPSTATES missing (apt-get install libbpf-tools)"
	fi
	exit "$_failed"
fi

ns=$(ns_create tcpstates) || {
	fail tcpstates/netns "ip netns add failed"
	exit 1
}
ts_out=$TMP/tcpstates.out
out=$TMP/synfin.jsonl
tc=$TMP/tcpctl.out

# -T: time column, -w: wide address columns; stdbuf: line-buffered output,
# so the header (printed once attached) and each event show up at once
unshare -m --propagation private sh -c \
	'mount -t tracefs tracefs /sys/kernel/tracing && exec stdbuf -oL "$0" -w -T' \
	"$TCPSTATES" >"$ts_out" 2>"$ts_out.err" &
ts_pid=$!
cleanup_add "stop_pid $ts_pid INT 5"
for ((i = 0; i < 200; i++)); do
	grep -q 'OLDSTATE' "$ts_out" && break
	[[ $'\n'$(jobs -rp)$'\n' == *$'\n'"$ts_pid"$'\n'* ]] || break
	sleep 0.05
done
if ! grep -q 'OLDSTATE' "$ts_out"; then
	fail tcpstates/start "no header from tcpstates in 10 s: $(tr '\n' ' ' <"$ts_out.err")"
	exit 1
fi
pass tcpstates/start
if ! start_synfin "$out" "$ns"; then
	fail tcpstates/synfin-start "$(tr '\n' ' ' <"$out.err")"
	exit 1
fi

run() {
	local rc
	ip netns exec "$ns" timeout 30 "$TCPCTL" "$@" >>"$tc" 2>>"$tc.err"
	rc=$?
	[ "$rc" -eq 0 ] || fail "tcpstates/tcpctl" "tcpctl $* exited $rc: $(tr '\n' ' ' <"$tc.err")"
}
run client-first --addr 127.0.0.1 --linger-ms 100 --count 2
run server-first --addr 127.0.0.1 --linger-ms 100
run client-first --addr ::1 --linger-ms 100
run server-first --addr ::1 --linger-ms 100 --count 2
run reset --addr 127.0.0.1
run refused --addr ::1

# tcpstates polls its perf buffer every 100 ms and drops what is left on
# exit: wait (bounded) until every test socket's last transition is there
want=$(grep -c '^conn ' "$tc")
for ((i = 0; i < 100; i++)); do
	# one "-> CLOSE" per socket: 2 per connection, 1 per refused attempt
	# and 1 per listener, all on the test's ports
	got=$(python3 "$TOP/tests/kernel/test_tcpstates.py" count "$ts_out" "$tc" 2>/dev/null)
	[ "${got:-0}" -ge "$want" ] && break
	sleep 0.05
done

stop_synfin
rc=$?
[ "$rc" -eq 0 ] && pass tcpstates/synfin-exit || fail tcpstates/synfin-exit "exited $rc"
stop_pid "$ts_pid" INT 5
rc=$?
[ "$rc" -ne 124 ] && pass tcpstates/tcpstates-exit || fail tcpstates/tcpstates-exit "had to be killed"

python3 "$TOP/tests/kernel/test_tcpstates.py" compare "$ts_out" "$tc" "$out" || _failed=1
exit "$_failed"
