#!/usr/bin/env bash
# Real-kernel lifecycle tests: each scenario runs in a fresh network
# namespace with its own synfin scoped to it; tcpctl makes the connections
# and tests/kernel/check_flows.py compares synfin's records with them.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root lifecycle

CHECK=("python3" "$TOP/tests/kernel/check_flows.py")
# a fixed port outside the ephemeral range, SYNs to it dropped by nft
TIMEOUT_PORT=20007
# the server port of the traffic the --netns filter must hide
OTHER_PORT=20099

# run_tcpctl NAME NS OUT ARGS...: tcpctl inside NS, stdout into OUT
run_tcpctl() {
	local name=$1 ns=$2 out=$3 rc
	shift 3
	ip netns exec "$ns" timeout 30 "$TCPCTL" "$@" >"$out" 2>"$out.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$name/tcpctl" "tcpctl $* exited $rc: $(tr '\n' ' ' <"$out.err")"
		return 1
	fi
}

# scenario NAME [--setup FUNC] TCPCTL-ARGS... -- CHECK-ARGS...
# A fresh netns, synfin scoped to it, tcpctl, synfin stopped with SIGINT
# (must exit 0), then the checker.
scenario() {
	local name=$1 setup="" ns out tc rc
	shift
	if [ "$1" = --setup ]; then
		setup=$2
		shift 2
	fi
	local targs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		targs+=("$1")
		shift
	done
	shift
	out=$TMP/$name.jsonl
	tc=$TMP/$name.tcpctl
	if ! ns=$(ns_create "$name"); then
		fail "$name/netns" "ip netns add failed"
		return
	fi
	if [ -n "$setup" ] && ! "$setup" "$ns"; then
		fail "$name/setup" "$setup failed"
		return
	fi
	if ! start_synfin "$out" "$ns"; then
		fail "$name/start" "synfin did not start: $(tr '\n' ' ' <"$out.err")"
		return
	fi
	run_tcpctl "$name" "$ns" "$tc" "${targs[@]}"
	ns_settle "$ns"
	stop_synfin
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$name/synfin-exit"
	else
		fail "$name/synfin-exit" "exited $rc on SIGINT: $(tr '\n' ' ' <"$out.err")"
	fi
	"${CHECK[@]}" --jsonl "$out" --tcpctl "$tc" --name "$name" \
		--netns "$(stat -L -c %i "/var/run/netns/$ns")" "$@" ||
		_failed=1
}

CLIENT_ACTIVE=(
	--client 'path=CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT'
	--client close=normal --client closer=local --client role=client
	--client established=true --client time_wait.inferred=true
	--client time_wait.from=FIN_WAIT_2 --client reset=null --client error=null
)
CLIENT_PASSIVE=(
	--client 'path=CLOSED>SYN_SENT>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED'
	--client close=normal --client closer=peer --client role=client
	--client established=true --client time_wait=null --client reset=null
	--client error=null
)
SERVER_ACTIVE=(
	--server 'path=LISTEN>SYN_RECEIVED>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT'
	--server close=normal --server closer=local --server role=server
	--server established=true --server time_wait.inferred=true
	--server time_wait.from=FIN_WAIT_2 --server reset=null --server error=null
)
SERVER_PASSIVE=(
	--server 'path=LISTEN>SYN_RECEIVED>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED'
	--server close=normal --server closer=peer --server role=server
	--server established=true --server time_wait=null --server reset=null
	--server error=null
)
# 200 ms between the two closes: the passive closer sits in CLOSE_WAIT for
# it, the active closer waits as long for the peer's FIN (segment 6; its
# socket is a time-wait socket by then, which no state event shows)
TEARDOWN=(--process --durations --listen --segments --pause-us 150000 --fin-span-us 150000)

scenario v4-client-first client-first --addr 127.0.0.1 --linger-ms 200 --count 2 -- \
	--scenario client-first --expect-conns 2 "${TEARDOWN[@]}" \
	"${CLIENT_ACTIVE[@]}" "${SERVER_PASSIVE[@]}"
scenario v6-client-first client-first --addr ::1 --linger-ms 200 -- \
	--scenario client-first --expect-conns 1 "${TEARDOWN[@]}" \
	"${CLIENT_ACTIVE[@]}" "${SERVER_PASSIVE[@]}"
scenario v4-server-first server-first --addr 127.0.0.1 --linger-ms 200 -- \
	--scenario server-first --expect-conns 1 "${TEARDOWN[@]}" \
	"${CLIENT_PASSIVE[@]}" "${SERVER_ACTIVE[@]}"
scenario v6-server-first server-first --addr ::1 --linger-ms 200 --count 2 -- \
	--scenario server-first --expect-conns 2 "${TEARDOWN[@]}" \
	"${CLIENT_PASSIVE[@]}" "${SERVER_ACTIVE[@]}"

FAILED_CONNECT=(
	--no-server --process --durations
	--client 'path=CLOSED>SYN_SENT>CLOSED' --client role=client
	--client established=false --client closer=null
)
for fam in v4:127.0.0.1 v6:::1; do
	scenario "${fam%%:*}-refused" refused --addr "${fam#*:}" -- \
		--scenario refused --expect-conns 1 "${FAILED_CONNECT[@]}" \
		--client close=refused --client error.name=ECONNREFUSED \
		--client error.errno=111 --client reset.received_in=SYN_SENT
done

scenario v4-reset reset --addr 127.0.0.1 -- \
	--scenario reset --expect-conns 1 --process --durations --listen \
	--client close=reset --client reset.sent_in=ESTABLISHED \
	--client established=true --client role=client \
	--server close=reset --server reset.received_in=ESTABLISHED \
	--server error.name=ECONNRESET --server established=true \
	--server role=server

# SYNs to TIMEOUT_PORT dropped, in the test's namespace only (the table
# goes with the namespace; the cleanup is there for a failed deletion)
# shellcheck disable=SC2317 # called through scenario --setup
drop_syns() {
	local ns=$1
	cleanup_add "ip netns exec $ns nft delete table inet synfin_test"
	ip netns exec "$ns" nft -f - <<-EOF
		table inet synfin_test {
			chain input {
				type filter hook input priority 0; policy accept;
				tcp dport $TIMEOUT_PORT tcp flags & (syn | ack) == syn drop
			}
		}
	EOF
}
scenario v4-timeout --setup drop_syns \
	timeout --syncnt 1 --port "$TIMEOUT_PORT" --addr 127.0.0.1 -- \
	--scenario timeout --expect-conns 1 "${FAILED_CONNECT[@]}" \
	--client close=timeout --client error.name=ETIMEDOUT \
	--client 'retransmits.syn>=1' --client reset=null

# --netns: two synfins, each scoped to its own namespace, traffic in both.
# Each must record its own namespace's connection (so the traffic was
# visible) and nothing of the other's.
netns_filter() {
	local a b outa=$TMP/scope-a.jsonl outb=$TMP/scope-b.jsonl pida pidb rc
	if ! a=$(ns_create scope-a) || ! b=$(ns_create scope-b); then
		fail netns-filter/netns "ip netns add failed"
		return
	fi
	if ! start_synfin "$outa" "$a"; then
		fail netns-filter/start "synfin did not start"
		return
	fi
	pida=$SYNFIN_PID
	if ! start_synfin "$outb" "$b"; then
		fail netns-filter/start "second synfin did not start"
		return
	fi
	pidb=$SYNFIN_PID
	run_tcpctl netns-filter "$b" "$TMP/scope-b.tcpctl" client-first \
		--port "$OTHER_PORT"
	run_tcpctl netns-filter "$a" "$TMP/scope-a.tcpctl" client-first
	ns_settle "$a" "$b"
	for pid in "$pida" "$pidb"; do
		SYNFIN_PID=$pid
		stop_synfin
		rc=$?
		[ "$rc" -eq 0 ] || fail netns-filter/synfin-exit "synfin exited $rc"
	done
	"${CHECK[@]}" --jsonl "$outa" --tcpctl "$TMP/scope-a.tcpctl" \
		--name netns-filter/scoped-own --netns "$(ns_inode "$a")" \
		--expect-conns 1 --listen --client close=normal \
		--server close=normal || _failed=1
	"${CHECK[@]}" --jsonl "$outa" --tcpctl "$TMP/scope-b.tcpctl" \
		--name netns-filter/scoped-other --absent || _failed=1
	"${CHECK[@]}" --jsonl "$outb" --tcpctl "$TMP/scope-b.tcpctl" \
		--name netns-filter/control --netns "$(ns_inode "$b")" \
		--expect-conns 1 --listen --client close=normal \
		--server close=normal || _failed=1
}
netns_filter

exit "$_failed"
