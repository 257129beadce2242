#!/usr/bin/env bash
# Teardown shapes on a real kernel, each checked against tcpdump. Every
# scenario runs in a namespace of its own with tcpdump and synfin (segment
# capture on) watching its lo; faults are injected with nft inside that
# namespace only. tests/kernel/check_closes.py then checks both ends' flow
# records: every segment synfin reports (handshake, teardown, reset) is on
# the wire with the same direction, flags, seq, ack, window and length, is
# the segment the capture says it is (4 = first FIN, 5 = its ACK, ...), and
# the retransmission counts equal the repeats on the wire; plus each
# scenario's own assertions:
#   simultaneous  both ends shut down while their FINs are dropped (nft,
#                 input hook: the FINs were sent, so the kernel really
#                 retransmits them); released, the retransmitted FINs cross:
#                 FIN_WAIT_1>CLOSING>TIME_WAIT on both ends, close and
#                 segments.close "simultaneous", closer "both"
#   three-way     the peer closes as soon as it reads EOF: its FIN carries the
#                 ACK of the first FIN (segments 4, 6, 7; 6 acks 4)
#   half-close    the client shuts down its side, the server sends data for
#                 200 ms and closes: FIN_WAIT_2 and CLOSE_WAIT dwell >= 150 ms,
#                 segments 4..7, 6 lies the data beyond what 4 acknowledged
#   synack        the handshake's ACK dropped (nft, output hook) until the
#                 listener retransmits its SYN-ACK: retransmits.synack on the
#                 server flow and synack_retransmits on the listener's stop
#   reset         SO_LINGER 0 close in ESTABLISHED: RST out / in
#   refused       RST answering the SYN: close "refused", RST in
#   data-fin      the FIN queued behind 100 kB, both held back (nft): the
#                 data sent again in FIN_WAIT_1 is no FIN retransmit
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root closes
WAIT="python3 $TOP/tests/kernel/jsonwait.py"
CHECK="python3 $TOP/tests/kernel/check_closes.py"
# CLOSES_ONLY="sim tw ...": run only these scenarios (default: all)
only() { [ -z "${CLOSES_ONLY:-}" ] || [[ " $CLOSES_ONLY " == *" $1 "* ]]; }
# CLOSES_KEEP=DIR: keep captures, records and tcpctl output there
if [ -n "${CLOSES_KEEP:-}" ]; then
	mkdir -p "$CLOSES_KEEP" && cleanup_add "cp -a $TMP/. $CLOSES_KEEP/"
fi

need_tools closes tcpdump tshark nft

# nft_drop NS HOOK RULE...: a table of the test's own, inside NS only
nft_drop() {
	local ns=$1 hook=$2
	shift 2
	ip netns exec "$ns" nft add table inet synfin_closes &&
		ip netns exec "$ns" nft add chain inet synfin_closes "$hook" \
			"{ type filter hook $hook priority 0; policy accept; }" &&
		ip netns exec "$ns" nft add rule inet synfin_closes "$hook" "$@"
}
nft_clear() { ip netns exec "$1" nft delete table inet synfin_closes 2>/dev/null || true; }

# begin NAME: a namespace NS with tcpdump capturing its lo into $TMP/NAME.pcap
# (confirmed running) and synfin scoped to it writing $TMP/NAME.jsonl
begin() {
	local name=$1
	if ! NS=$(ns_create "$name"); then
		fail "closes/$name/setup" "ip netns add failed"
		return 1
	fi
	cleanup_add "nft_clear $NS"
	PCAP=$TMP/$name.pcap
	OUT=$TMP/$name.jsonl
	ip netns exec "$NS" tcpdump -i lo -nn -S -Z root -U --immediate-mode -w "$PCAP" tcp \
		2>"$PCAP.err" &
	TCPDUMP_PID=$!
	cleanup_add "stop_pid $TCPDUMP_PID INT 5"
	if ! wait_line "$PCAP.err" 'listening on' 50; then
		fail "closes/$name/setup" "tcpdump did not start: $(tr '\n' ' ' <"$PCAP.err")"
		return 1
	fi
	if ! start_synfin "$OUT" "$NS"; then
		fail "closes/$name/setup" "synfin did not start: $(tr '\n' ' ' <"$OUT.err")"
		return 1
	fi
}

# tcpctl_done NAME PID: PASS if the tcpctl in the background exited 0
tcpctl_done() {
	local name=$1 pid=$2 rc
	wait "$pid"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "closes/$name/tcpctl"
	else
		fail "closes/$name/tcpctl" "exit $rc: $(tr '\n' ' ' <"$TMP/$name.tcp.err")"
	fi
}

# ports NAME: "CLIENT_PORT SERVER_PORT" from tcpctl's conn line
ports() {
	sed -n 's/^conn .* client=[^ ]*:\([0-9]*\) server=[^ ]*:\([0-9]*\) .*/\1 \2/p' "$TMP/$1.tcp" | head -n 1
}

# finish NAME SCENARIO WHAT [checker options]: wait for the flow records
# (WHAT: both, client), stop synfin and tcpdump, run the checker; returns
# its status (3: the wire shows the scenario did not happen)
finish() {
	local name=$1 sc=$2 what=$3 cp sp rc
	shift 3
	read -r cp sp <<<"$(ports "$name")"
	if [ -n "${cp:-}" ]; then
		$WAIT "$OUT" 5 "r['type']=='flow' and r['local']['port']==$cp and r['peer']['port']==$sp" \
			>/dev/null || fail "closes/$name/client-record" "no client flow record for port $cp within 5 s"
		if [ "$what" = both ]; then
			$WAIT "$OUT" 5 "r['type']=='flow' and r['local']['port']==$sp and r['peer']['port']==$cp" \
				>/dev/null || fail "closes/$name/server-record" "no server flow record for port $sp within 5 s"
		fi
	fi
	stop_synfin
	rc=$?
	[ "$rc" -eq 0 ] || fail "closes/$name/synfin-exit" "exit status $rc: $(tail -n 2 "$OUT.err" | tr '\n' ' ')"
	stop_pid "$TCPDUMP_PID" INT 5
	if ! grep -q '^0 packets dropped by kernel' "$PCAP.err"; then
		fail "closes/$name/tcpdump" "capture incomplete: $(tr '\n' ' ' <"$PCAP.err")"
	fi
	tshark -r "$PCAP" -T fields -E separator='|' -e ip.src -e ipv6.src -e tcp.srcport \
		-e ip.dst -e ipv6.dst -e tcp.dstport -e tcp.seq_raw -e tcp.ack_raw -e tcp.flags \
		-e tcp.len -e tcp.window_size_value >"$TMP/$name.pkts" 2>"$TMP/$name.tshark.err"
	$CHECK --name "closes/$name" --scenario "$sc" --jsonl "$OUT" --tcpctl "$TMP/$name.tcp" \
		--pkts "$TMP/$name.pkts" "$@"
	rc=$?
	# 3: the scenario did not happen on the wire (the caller may retry)
	[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || _failed=1
	return "$rc"
}

# ---- 1. simultaneous close: the FINs cross --------------------------------
# Both sockets shut down while every segment between them is dropped on
# input (the FINs left, so the kernel retransmits them on its timer; an
# output drop would fail the first send and the FIN would later go out as
# a first transmission). Released, both retransmission timers fire in the
# same timer run (tcpctl pins itself to one CPU): each FIN reaches a socket
# still in FIN_WAIT_1. A timer-bucket edge can still split them; the
# checker then sees on the wire that they did not cross and the scenario
# runs again (sim2, sim3: see attempts), a failure only if it never happens.
sim_attempt() {
	local name=$1 tcp n cp
	begin "$name" || return 1
	ip netns exec "$NS" timeout 10 "$TCPCTL" simultaneous --port 20301 \
		--wait-file "$TMP/$name.go" --wait-file-2 "$TMP/$name.go2" >"$TMP/$name.tcp" 2>"$TMP/$name.tcp.err" &
	tcp=$!
	cleanup_add "stop_pid $tcp TERM 2"
	if wait_line "$TMP/$name.tcp" '^established'; then
		cp=$(sed -n 's/^established .* client=[^ ]*:\([0-9]*\) .*/\1/p' "$TMP/$name.tcp")
		nft_drop "$NS" input tcp sport "{ $cp, 20301 }" tcp dport "{ $cp, 20301 }" counter drop ||
			fail "closes/$name/nft" "rule not accepted"
		touch "$TMP/$name.go"
		if wait_line "$TMP/$name.tcp" '^fins-sent'; then
			n=$(ip netns exec "$NS" ss -tanH state fin-wait-1 "( sport = :20301 or dport = :20301 )" | wc -l)
			if [ "$n" -eq 2 ]; then
				pass "closes/$name/both-fin-wait-1"
			else
				fail "closes/$name/both-fin-wait-1" "$n sockets in FIN-WAIT-1, expected 2"
			fi
		else
			fail "closes/$name/fins-sent" "tcpctl never shut down: $(tr '\n' ' ' <"$TMP/$name.tcp.err")"
		fi
		nft_clear "$NS"
		touch "$TMP/$name.go2"
	else
		fail "closes/$name/established" "tcpctl never connected: $(tr '\n' ' ' <"$TMP/$name.tcp.err")"
	fi
	tcpctl_done "$name" "$tcp"
	finish "$name" simultaneous both
}
# attempts BASE FN: run FN BASE, then as BASE2, BASE3 while the checker
# finds on the wire that the kernel's timing did not produce the scenario
# (status 3); a failure only if it never does
attempts() {
	local base=$1 fn=$2 try name
	for try in 1 2 3; do
		name=$base
		[ "$try" -eq 1 ] || name=$base$try
		"$fn" "$name"
		[ "$?" -eq 3 ] || return 0
	done
	fail "closes/$base/happened" "3 attempts, and the wire never showed the scenario: untested"
}
only sim && attempts sim sim_attempt

# ---- 2. three-way close: the peer's FIN acknowledges the first FIN --------
# the server closes the moment it reads EOF; the ACK of the client's FIN is
# delayed (the FIN puts the receiver in pingpong mode), so it rides on the
# server's FIN (a preempted tcpctl can let the delayed ACK go alone: the
# checker sees it on the wire and the scenario runs again)
tw_attempt() {
	local name=$1
	begin "$name" || return 1
	ip netns exec "$NS" timeout 10 "$TCPCTL" client-first --port 20302 --linger-ms 0 \
		>"$TMP/$name.tcp" 2>"$TMP/$name.tcp.err" &
	tcpctl_done "$name" $!
	finish "$name" three-way both
}
only tw && attempts tw tw_attempt

# ---- 3. half-close with data after the first FIN --------------------------
if only hc && begin hc; then
	ip netns exec "$NS" timeout 10 "$TCPCTL" half-close --port 20303 --hold 200 \
		--send-after-fin 6000 >"$TMP/hc.tcp" 2>"$TMP/hc.tcp.err" &
	tcpctl_done hc $!
	finish hc half-close both --send-after-fin 6000 --hold-us 150000
fi

# ---- 4. SYN-ACK retransmitted: the handshake's ACK dropped ----------------
# dropped on output (never on the wire): the listener retransmits its
# SYN-ACK after 1 s and the client's answer to that completes the
# handshake. tcpctl accepts before it sends anything, so nothing else can.
if only sa && begin sa; then
	nft_drop "$NS" output tcp dport 20304 tcp flags == ack counter drop ||
		fail closes/sa/nft "rule not accepted"
	ip netns exec "$NS" timeout 10 "$TCPCTL" client-first --port 20304 \
		>"$TMP/sa.tcp" 2>"$TMP/sa.tcp.err" &
	tcp=$!
	cleanup_add "stop_pid $tcp TERM 2"
	# released soon after the first drop: the retransmitted SYN-ACK (1 s
	# later) completes the handshake. Released late (a loaded machine),
	# its answer is dropped too and the next one (3 s) completes it: the
	# checks compare with the wire, so only the run time grows.
	# (no "nft | grep -q": with pipefail, grep leaving early fails it)
	dropped() { [[ $(ip netns exec "$NS" nft list chain inet synfin_closes output 2>&1) == *"packets "[1-9]* ]]; }
	deadline=$((SECONDS + 5))
	until dropped || [ "$SECONDS" -ge "$deadline" ]; do
		sleep 0.02
	done
	if dropped; then
		pass closes/sa/ack-dropped
	else
		fail closes/sa/ack-dropped "the nft rule dropped nothing within 5 s"
	fi
	sleep 0.3
	nft_clear "$NS"
	tcpctl_done sa "$tcp"
	$WAIT "$OUT" 5 "r['type']=='listen' and r['event']=='stop' and r['local']['port']==20304" \
		>/dev/null || fail closes/sa/listen-record "no listen stop record for port 20304"
	finish sa synack both --listen-port 20304
fi

# ---- 5. RST: abort in ESTABLISHED, and a refused connect ------------------
if only rst && begin rst; then
	ip netns exec "$NS" timeout 10 "$TCPCTL" reset --port 20305 >"$TMP/rst.tcp" 2>"$TMP/rst.tcp.err" &
	tcpctl_done rst $!
	finish rst reset both
fi
if only ref && begin ref; then
	ip netns exec "$NS" timeout 10 "$TCPCTL" refused --port 20306 >"$TMP/ref.tcp" 2>"$TMP/ref.tcp.err" &
	tcpctl_done ref $!
	finish ref refused client
fi

# ---- 6. the FIN queued behind data, both held back -----------------------
# the client sends 100 kB and closes at once: data and FIN are dropped on
# the server's input (pings and ACKs pass) for 0.6 s, long enough for the
# first RTO, which sends the head data segment again (a full segment: no
# room to merge the FIN into it) in FIN_WAIT_1. That is no FIN retransmit;
# released, the rest follows and the FIN goes out again with the last data.
if only df && begin df; then
	nft_drop "$NS" input tcp dport 20307 meta length '>' 1000 counter drop &&
		ip netns exec "$NS" nft add rule inet synfin_closes input tcp dport 20307 \
			tcp flags '&' fin == fin counter drop ||
		fail closes/df/nft "rules not accepted"
	ip netns exec "$NS" timeout 10 "$TCPCTL" client-first --port 20307 --linger-ms 0 \
		--send-before-close 100000 >"$TMP/df.tcp" 2>"$TMP/df.tcp.err" &
	tcp=$!
	cleanup_add "stop_pid $tcp TERM 2"
	# FIN_WAIT_1 stays while its FIN is held back: wait for it, then give
	# the first RTO (~200 ms) time to fire
	fw1() { [ -n "$(ip netns exec "$NS" ss -tanH state fin-wait-1 "( dport = :20307 )")" ]; }
	deadline=$((SECONDS + 5))
	until fw1 || [ "$SECONDS" -ge "$deadline" ]; do
		sleep 0.02
	done
	if fw1; then
		pass closes/df/fin-wait-1
	else
		fail closes/df/fin-wait-1 "the client is not in FIN-WAIT-1 with its FIN held back within 5 s"
	fi
	sleep 0.5
	nft_clear "$NS"
	tcpctl_done df "$tcp"
	finish df data-fin both
fi
exit "$_failed"
