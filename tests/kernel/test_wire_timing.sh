#!/usr/bin/env bash
# Phase durations against the wire, off loopback. Two namespaces joined by
# a veth pair, a client in one and a server in the other (tcpctl enters
# each), closes timed by the applications (tens to hundreds of ms between
# request, answer and each close), tcpdump on both ends of the veth, one
# synfin watching both namespaces. tests/kernel/check_timing.py compares
# every phase duration of both ends with the segments that bound it on
# that end's wire (3 ms tolerance), and TIME_WAIT's entry with the peer's
# FIN. Loopback hides the FIN_WAIT_2 hand-over: there the peer's FIN
# follows within microseconds.
#   sf      server closes first, the client 100 ms after the server's FIN
#           (the orphan's FIN_WAIT_2 lives on in a time-wait socket); two
#           connections from one client port, the second reusing the
#           server's time-wait socket: its time_wait record against the wire
#   cf      client first, the server 150 ms later
#   sf6     as sf, IPv6
#   hc      half-close: the client shuts down its side (a full FIN_WAIT_2
#           socket), the server sends data for 200 ms, then closes
#   sim     both FINs held back (nft in both namespaces), then crossing
#   rst     SO_LINGER 0 close after 40 ms
#   noseg   sf with --no-segments: FIN_WAIT_2's end and TIME_WAIT's entry
#           come from the reconcile rounds, and say so
#   fw2     the peer never closes: the server's time-wait socket gives up
#           (tcp_fin_timeout 2 s, set in the test's own namespace):
#           close "fin_wait_2_timeout", stuck FIN_WAIT_2 seen and resolved
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root wire-timing
need_tools wire-timing tcpdump tshark nft
WAIT="python3 $TOP/tests/kernel/jsonwait.py"
CHECK="python3 $TOP/tests/kernel/check_timing.py"
# TIMING_ONLY="sf cf ...": only these scenarios
only() { [ -z "${TIMING_ONLY:-}" ] || [[ " $TIMING_ONLY " == *" $1 "* ]]; }

# pair NAME: namespaces CNS (10.213.0.1, fd00:213::1) and SNS (.2, ::2)
# joined by a veth; tcpdump on both ends (CPCAP, SPCAP)
pair() {
	local name=$1 i
	CNS=$(ns_create "$name-c") && SNS=$(ns_create "$name-s") || {
		fail "wire-timing/$name/setup" "ip netns add failed"
		return 1
	}
	if ! ip link add sfw$$c netns "$CNS" type veth peer name sfw$$s netns "$SNS" ||
		! ip -n "$CNS" addr add 10.213.0.1/24 dev sfw$$c ||
		! ip -n "$SNS" addr add 10.213.0.2/24 dev sfw$$s ||
		! ip -n "$CNS" addr add fd00:213::1/64 dev sfw$$c nodad ||
		! ip -n "$SNS" addr add fd00:213::2/64 dev sfw$$s nodad ||
		! ip -n "$CNS" link set sfw$$c up || ! ip -n "$SNS" link set sfw$$s up; then
		fail "wire-timing/$name/setup" "veth pair not set up"
		return 1
	fi
	# neighbours resolved (and IPv6 addresses usable) before any test
	# connection: a first SYN lost in neighbour discovery is no phase
	for i in 1 2 3 4 5 6 7 8 9 10; do
		ip netns exec "$CNS" ping -q -c1 -W1 fd00:213::2 >/dev/null 2>&1 &&
			ip netns exec "$CNS" ping -q -c1 -W1 10.213.0.2 >/dev/null 2>&1 && break
		sleep 0.2
	done
	CPCAP=$TMP/$name.c.pcap
	SPCAP=$TMP/$name.s.pcap
	for i in c s; do
		local ns=$CNS pcap=$CPCAP
		[ $i = s ] && ns=$SNS pcap=$SPCAP
		ip netns exec "$ns" tcpdump -i sfw$$$i -nn -S -Z root -U --immediate-mode -w "$pcap" tcp \
			2>"$pcap.err" &
		cleanup_add "stop_pid $! INT 5"
		eval "TCPDUMP_$i=$!"
		wait_line "$pcap.err" 'listening on' 50 || {
			fail "wire-timing/$name/setup" "tcpdump did not start: $(tr '\n' ' ' <"$pcap.err")"
			return 1
		}
	done
}

# synfin_both NAME [args]: one synfin watching both namespaces -> OUT
synfin_both() {
	local name=$1
	shift
	OUT=$TMP/$name.jsonl
	"$SYNFIN" --netns "/var/run/netns/$CNS" --netns "/var/run/netns/$SNS" -i 0 -o "$OUT" --detail segments "$@" \
		2>"$OUT.err" &
	SYNFIN_PID=$!
	cleanup_add "stop_pid $SYNFIN_PID INT 5"
	wait_ready "$SYNFIN_PID" capturing "$OUT.err" "$OUT.err" || {
		fail "wire-timing/$name/setup" "synfin did not start: $(tr '\n' ' ' <"$OUT.err")"
		return 1
	}
}

# tcpctl_between NAME ADDR SCENARIO [args]: client in CNS, server in SNS
tcpctl_between() {
	local name=$1 addr=$2
	shift 2
	timeout 20 "$TCPCTL" "$@" --addr "$addr" --server-netns "/var/run/netns/$SNS" \
		--client-netns "/var/run/netns/$CNS" >"$TMP/$name.tcp" 2>"$TMP/$name.tcp.err"
}

# conn_ports NAME: "CP:SP,CP:SP..." of tcpctl's conn lines
conn_ports() {
	sed -n 's/^conn .* client=.*[:.]\([0-9]*\) server=.*[:.]\([0-9]*\) .*/\1:\2/p' "$TMP/$1.tcp" | paste -sd,
}

# finish NAME [checker options]: both ends' records of every connection,
# stop synfin and the captures, run the checker (its status)
finish() {
	local name=$1 pair cp sp rc i
	shift
	for pair in $(conn_ports "$name" | tr ',' ' '); do
		cp=${pair%:*} sp=${pair#*:}
		$WAIT "$OUT" 10 "r['type']=='flow' and r['local']['port']==$cp and r['peer']['port']==$sp" >/dev/null &&
			$WAIT "$OUT" 10 "r['type']=='flow' and r['local']['port']==$sp and r['peer']['port']==$cp" >/dev/null ||
			fail "wire-timing/$name/records" "no flow records of $cp<->$sp within 10 s"
	done
	stop_synfin
	rc=$?
	[ "$rc" -eq 0 ] || fail "wire-timing/$name/synfin-exit" "exit status $rc: $(tail -n 2 "$OUT.err" | tr '\n' ' ')"
	for i in c s; do
		eval "stop_pid \$TCPDUMP_$i INT 5"
		local pcap=$CPCAP
		[ $i = s ] && pcap=$SPCAP
		grep -q '^0 packets dropped by kernel' "$pcap.err" ||
			fail "wire-timing/$name/tcpdump-$i" "capture incomplete: $(tr '\n' ' ' <"$pcap.err")"
		tshark -r "$pcap" -T fields -E separator='|' -e frame.time_epoch -e ip.src -e ipv6.src \
			-e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport -e tcp.seq_raw -e tcp.ack_raw \
			-e tcp.flags -e tcp.len >"$pcap.pkts" 2>/dev/null
	done
	$CHECK --name "wire-timing/$name" --jsonl "$OUT" --client-pkts "$CPCAP.pkts" \
		--server-pkts "$SPCAP.pkts" --ports "$(conn_ports "$name")" "$@"
	rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || _failed=1
	return "$rc"
}

ran() {
	if [ "$1" -eq 0 ]; then
		pass "wire-timing/$2/tcpctl"
	else
		fail "wire-timing/$2/tcpctl" "exit $1: $(tr '\n' ' ' <"$TMP/$2.tcp.err")"
	fi
}

# ---- sf: server first; FIN_WAIT_2 in a time-wait socket for 100 ms --------
if only sf; then
	pair sf && synfin_both sf --max-time-wait 1024 && {
		tcpctl_between sf 10.213.0.2 server-first --think-ms 30 --linger-ms 100 --count 2 \
			--client-port 41213
		ran $? sf
		finish sf
		# the second connection took the first one's time-wait socket on
		# the server: its record's TIME_WAIT began with the peer's FIN
		python3 - "$OUT" "$SPCAP.pkts" <<'EOF' && pass wire-timing/sf/time_wait-record || fail wire-timing/sf/time_wait-record "see above"
import json, sys, datetime
recs = [json.loads(l) for l in open(sys.argv[1])]
tw = [r for r in recs if r["type"] == "time_wait" and r["local"]["port"] != 41213]
if len(tw) != 1 or tw[0]["exit"] != "reused":
    sys.exit(print("time_wait records:", tw) or 1)
fin = [l.split("|") for l in open(sys.argv[2])]
fin = [float(p[0]) for p in fin if p[3] == "41213" and int(p[9], 16) & 1]
ent = datetime.datetime.strptime(tw[0]["entered"], "%Y-%m-%dT%H:%M:%S.%fZ")
ent = ent.replace(tzinfo=datetime.timezone.utc).timestamp()
if tw[0]["entered_from"] != "segments" or abs(ent - fin[0]) > 0.003:
    sys.exit(print("entered", tw[0]["entered"], tw[0]["entered_from"], "the client's first FIN", fin[0]) or 1)
EOF
	}
fi

# ---- cf: client first, the server 150 ms later -----------------------------
if only cf; then
	pair cf && synfin_both cf && {
		tcpctl_between cf 10.213.0.2 client-first --think-ms 20 --linger-ms 150
		ran $? cf
		finish cf
	}
fi

# ---- sf6: as sf, IPv6 ------------------------------------------------------
if only sf6; then
	pair sf6 && synfin_both sf6 && {
		tcpctl_between sf6 fd00:213::2 server-first --think-ms 10 --linger-ms 80
		ran $? sf6
		finish sf6
	}
fi

# ---- hc: half-close with data ----------------------------------------------
if only hc; then
	pair hc && synfin_both hc && {
		tcpctl_between hc 10.213.0.2 half-close --send-after-fin 20000 --hold 200
		ran $? hc
		finish hc
	}
fi

# ---- sim: both FINs held back in both namespaces, then crossing ------------
sim_attempt() {
	local name=$1 tcp
	pair "$name" && synfin_both "$name" || return 1
	timeout 20 "$TCPCTL" simultaneous --addr 10.213.0.2 --server-netns "/var/run/netns/$SNS" \
		--client-netns "/var/run/netns/$CNS" --wait-file "$TMP/$name.go" \
		--wait-file-2 "$TMP/$name.go2" >"$TMP/$name.tcp" 2>"$TMP/$name.tcp.err" &
	tcp=$!
	cleanup_add "stop_pid $tcp TERM 2"
	if wait_line "$TMP/$name.tcp" '^established'; then
		for ns in "$CNS" "$SNS"; do
			# input: the FINs left, so the kernel retransmits them
			ip netns exec "$ns" nft add table inet synfin_timing &&
				ip netns exec "$ns" nft add chain inet synfin_timing input \
					'{ type filter hook input priority 0; policy accept; }' &&
				ip netns exec "$ns" nft add rule inet synfin_timing input tcp flags fin drop ||
				fail "wire-timing/$name/nft" "rule not accepted"
			cleanup_add "ip netns exec $ns nft delete table inet synfin_timing"
		done
		touch "$TMP/$name.go"
		wait_line "$TMP/$name.tcp" '^fins-sent' ||
			fail "wire-timing/$name/fins-sent" "$(tr '\n' ' ' <"$TMP/$name.tcp.err")"
		for ns in "$CNS" "$SNS"; do
			ip netns exec "$ns" nft delete table inet synfin_timing
		done
		touch "$TMP/$name.go2"
	fi
	wait "$tcp"
	ran $? "$name"
	finish "$name" --crossed
}
if only sim; then
	for try in 1 2 3; do
		name=sim
		[ "$try" -eq 1 ] || name=sim$try
		sim_attempt "$name"
		[ "$?" -eq 3 ] || break
		[ "$try" -lt 3 ] || fail wire-timing/sim/happened "3 attempts, the FINs never crossed"
	done
fi

# ---- rst: an abortive close ------------------------------------------------
if only rst; then
	pair rst && synfin_both rst && {
		tcpctl_between rst 10.213.0.2 reset --think-ms 40 --linger-ms 20
		ran $? rst
		finish rst
	}
fi

# ---- noseg: no segments; the rounds tell, and the record says so -----------
if only noseg; then
	pair noseg && synfin_both noseg --no-segments --reconcile-interval 1 && {
		tcpctl_between noseg 10.213.0.2 server-first --think-ms 30 --linger-ms 1500
		ran $? noseg
		finish noseg --no-segments 1
	}
fi

# ---- fw2: the peer never closes --------------------------------------------
if only fw2; then
	if pair fw2 && ip netns exec "$SNS" sysctl -qw net.ipv4.tcp_fin_timeout=2 &&
		synfin_both fw2 --reconcile-interval 1 --stuck fin_wait_2=1; then
		tcpctl_between fw2 10.213.0.2 server-first --linger-ms 4500
		ran $? fw2
		sp=$(conn_ports fw2)
		cp=${sp%:*} sp=${sp#*:}
		$WAIT "$OUT" 10 "r['type']=='flow' and r['local']['port']==$sp" >/dev/null
		stop_synfin
		python3 - "$OUT" "$sp" <<'EOF' && pass wire-timing/fw2/fin_wait_2_timeout || fail wire-timing/fw2/fin_wait_2_timeout "see above"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
sp = int(sys.argv[2])
f = [r for r in recs if r["type"] == "flow" and r["local"]["port"] == sp]
st = [r["type"] for r in recs if r["type"] in ("stuck", "resolved") and r["local"]["port"] == sp]
if len(f) != 1:
    sys.exit(print("server records:", f) or 1)
f = f[0]
fw2 = f["durations_us"].get("fin_wait_2", 0) / 1e6
why = []
if f["close"] != "fin_wait_2_timeout":
    why.append("close " + f["close"])
if not f["path"].endswith("FIN_WAIT_2>CLOSED"):
    why.append("path " + f["path"])
if not 1.9 <= fw2 <= 3.6 or f.get("durations_from", {}).get("fin_wait_2") != "reconcile":
    why.append(f"fin_wait_2 {fw2} s from {f.get('durations_from')}")
if st != ["stuck", "resolved"]:
    why.append(f"stuck records {st}")
if why:
    sys.exit(print("; ".join(why), json.dumps(f)) or 1)
EOF
	fi
fi

exit 0
