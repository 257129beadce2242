#!/usr/bin/env bash
# Regenerates the flow records behind the `synfin show` golden tests (root):
# every close shape made for real, in namespaces this script creates, and
# recorded by synfin. tests/kernel/test_closes.sh makes (and checks against
# tcpdump) the shapes that need held-back segments; the rest are made here.
# Then the expected diagrams are drawn again: review every *.expected* by
# hand before committing them, they are the golden truth.
#   tests/show/make-fixtures.sh            all of them
#   tests/show/make-fixtures.sh NAME...    only these (e.g. syn-timeout)
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root show-fixtures
cd "$TOP/tests/show" || exit 1

WANT=" $* "
want() { [ "$WANT" = "  " ] || [[ "$WANT" == *" $1 "* ]]; }

# keep NAME FILE: the records of FILE (every type: show must skip the
# ones that are not flows) become the fixture NAME.jsonl
keep() {
	if ! grep -q '"type":"flow"' "$2"; then
		echo "make-fixtures: $1: no flow record in $2" >&2
		exit 1
	fi
	cp "$2" "$1.jsonl"
	echo "make-fixtures: $1.jsonl ($(grep -c '"type":"flow"' "$1.jsonl") flows)"
}

# ---- shapes test_closes.sh makes and checks against the wire ---------------
closes=()
for pair in tw:three-way sim:simultaneous hc:half-close-data rst:reset ref:refused \
	sa:synack-retransmit; do
	want "${pair#*:}" && closes+=("${pair%%:*}")
done
if [ ${#closes[@]} -gt 0 ]; then
	mkdir -p "$TMP/closes"
	CLOSES_KEEP=$TMP/closes CLOSES_ONLY="${closes[*]}" bash "$TOP/tests/kernel/test_closes.sh" \
		>"$TMP/closes.log" 2>&1 || { cat "$TMP/closes.log" >&2; exit 1; }
	for pair in tw:three-way sim:simultaneous hc:half-close-data rst:reset ref:refused \
		sa:synack-retransmit; do
		# a scenario the wire did not show at first runs again (sim2...):
		# the last attempt is the one that happened
		f=$(ls "$TMP/closes/${pair%%:*}"{,2,3}.jsonl 2>/dev/null | tail -n 1)
		[ -n "$f" ] && keep "${pair#*:}" "$f"
	done
fi

# ---- the others: scenario NAME FUNC [SYNFIN ARGS]: FUNC NS runs in a fresh
# namespace NS with synfin scoped to it
scenario() {
	local name=$1 fn=$2 ns
	shift 2
	want "$name" || return 0
	ns=$(ns_create "$name") || exit 1
	start_synfin "$TMP/$name.jsonl" "$ns" "$@" || exit 1
	"$fn" "$ns" || { echo "make-fixtures: $name: $fn failed" >&2; exit 1; }
	ns_settle "$ns"
	stop_synfin || exit 1
	keep "$name" "$TMP/$name.jsonl"
}

# the seed's picture: the client closes first, the server 200 ms later
four_way() { ip netns exec "$1" "$TCPCTL" client-first --port 20401 --linger-ms 200 >/dev/null; }
scenario four-way four_way

# the server closes first (the client is the passive closer)
server_first() { ip netns exec "$1" "$TCPCTL" server-first --port 20402 --linger-ms 200 >/dev/null; }
scenario server-closes server_first

# the seed's picture with segment capture off: states and durations only;
# the active closer's TIME_WAIT shows in a reconcile round (0.5 s)
no_segments() {
	four_way "$1" &&
		python3 "$TOP/tests/kernel/jsonwait.py" "$TMP/no-segments.jsonl" 5 \
			"r['type']=='flow' and r['role']=='client'" >/dev/null
}
scenario no-segments no_segments --no-segments --reconcile-interval 0.5

# half-closed for good: the server keeps its side open for 4 s, the
# client's time-wait socket waits for its FIN 1 s only (tcp_fin_timeout is
# per namespace: this one's) and gives up: that record holds one FIN; the
# server's FIN, late, is answered with a RST
half_closed() {
	ip netns exec "$1" sysctl -qw net.ipv4.tcp_fin_timeout=1 &&
		ip netns exec "$1" "$TCPCTL" client-first --port 20403 --linger-ms 4000 >/dev/null
}
scenario half-closed half_closed --reconcile-interval 0.5
# and that record alone: a connection whose other end is not on this host
want half-closed && grep '"role":"client"' half-closed.jsonl >half-closed-one-end.jsonl

# SYN timeout: every SYN dropped on input (this namespace's own table); the
# client gives up after TCP_SYNCNT 2's time (1 + 2 + 4 s), sending the SYN
# again every second meanwhile: 5 retransmits (tcp_syn_linear_timeouts,
# Linux >= 6.5, makes the first 4 timeouts linear; tcpdump agrees)
syn_timeout() {
	ip netns exec "$1" nft -f - <<-'NFT' || return 1
		table inet synfin_show {
			chain input {
				type filter hook input priority 0; policy accept;
				tcp dport 20404 tcp flags & (syn | ack) == syn drop
			}
		}
	NFT
	ip netns exec "$1" "$TCPCTL" timeout --port 20404 --syncnt 2 >/dev/null
}
scenario syn-timeout syn_timeout

# half-open that never completed: the handshake's ACK never leaves the
# client (nft, output, this namespace only); the listener retransmits its
# SYN-ACK once (tcp_synack_retries is per namespace: this one's) and drops
# the request; the client, established on its side, closes 5 s later and
# its FIN is answered with a RST
half_open() {
	ip netns exec "$1" sysctl -qw net.ipv4.tcp_synack_retries=1 || return 1
	ip netns exec "$1" nft -f - <<-'NFT' || return 1
		table inet synfin_show {
			chain output {
				type filter hook output priority 0; policy accept;
				tcp dport 20405 tcp flags == ack drop
			}
		}
	NFT
	ip netns exec "$1" "$TCPCTL" listen-only --port 20405 --hold 7000 >"$TMP/ho.tcp" &
	local l=$!
	cleanup_add "kill $l"
	wait_ready "$l" '^ready' "$TMP/ho.tcp" "$TMP/ho.tcp" || return 1
	ip netns exec "$1" python3 -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 20405))
time.sleep(5)
s.close()
time.sleep(0.5)'
	wait "$l"
}
scenario half-open half_open --reconcile-interval 0.5

# two namespaces joined by a veth pair: the ends are in different
# namespaces, so their records are paired by tuple and initial sequence
# numbers; each end sees the other's segments arrive later than they left
veth() {
	local a b srv
	a=$(ns_create veth-a) && b=$(ns_create veth-b) || exit 1
	ip link add sfshow-a netns "$a" type veth peer name sfshow-b netns "$b" &&
		ip -n "$a" addr add 10.77.0.1/24 dev sfshow-a && ip -n "$a" link set sfshow-a up &&
		ip -n "$b" addr add 10.77.0.2/24 dev sfshow-b && ip -n "$b" link set sfshow-b up ||
		exit 1
	start_synfin "$TMP/veth.jsonl" "$a" --netns "/var/run/netns/$b" || exit 1
	ip netns exec "$b" python3 -c '
import socket
l = socket.socket(); l.bind(("10.77.0.2", 20406)); l.listen()
print("ready", flush=True)
c, _ = l.accept(); c.recv(100); c.sendall(b"pong"); c.recv(100); c.close()' >"$TMP/veth.srv" &
	srv=$!
	cleanup_add "kill $srv"
	wait_ready "$srv" '^ready' "$TMP/veth.srv" "$TMP/veth.srv" || exit 1
	ip netns exec "$a" python3 -c '
import socket, time
s = socket.create_connection(("10.77.0.2", 20406)); s.sendall(b"ping"); s.recv(100)
time.sleep(0.05); s.close(); time.sleep(0.3)' || exit 1
	wait "$srv"
	ns_settle "$a" "$b"
	stop_synfin || exit 1
	keep veth "$TMP/veth.jsonl"
}
want veth && veth

# a connection older than synfin: the server sits in CLOSE_WAIT (the client
# closed) when synfin starts, then closes; its record starts mid-flow
mid_flow() {
	local ns tcp
	ns=$(ns_create mid-flow) || exit 1
	ip netns exec "$ns" "$TCPCTL" close-wait --port 20407 --hold 1500 >"$TMP/mid.tcp" &
	tcp=$!
	cleanup_add "kill $tcp"
	wait_ready "$tcp" '^hold' "$TMP/mid.tcp" "$TMP/mid.tcp" || exit 1
	start_synfin "$TMP/mid-flow.jsonl" "$ns" || exit 1
	wait "$tcp" || exit 1
	ns_settle "$ns"
	stop_synfin || exit 1
	keep mid-flow "$TMP/mid-flow.jsonl"
}
want mid-flow && mid_flow

# ---- the expected diagrams, drawn again ------------------------------------
for f in *.jsonl; do
	name=${f%.jsonl}
	"$SYNFIN" show "$f" >"$name.expected" 2>"$name.expected.err"
	"$SYNFIN" show --ascii "$f" >"$name.expected.ascii" 2>/dev/null
done
echo "make-fixtures: review the *.expected* diagrams before committing them"
