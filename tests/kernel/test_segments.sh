#!/usr/bin/env bash
# Real-kernel test of the tc segment capture (bpf/segment.bpf.c through
# daemon/tc.c, driven by build/segdump). In a fresh namespace, tcpdump and
# segdump watch the same traffic on lo; every SYN, SYN-ACK, FIN and RST
# tcpdump saw must be reported by segdump twice (egress and ingress: on lo
# each segment crosses both hooks) with the same flags, seq, ack, window,
# ports and payload, so must the ACK that acknowledges each FIN and the
# segment that completes each handshake (the first one acknowledging a
# SYN-ACK: a bare ACK, or the client's first data when that ACK is lost),
# and no other data or ACK segment may be; once all is acknowledged the
# pending-segment counts are back to zero. Then: nothing is left attached after
# segdump exits, leftovers of a killed segdump are removed by the next one,
# and an interface that comes up later is attached to.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root segments

SEGDUMP=${SEGDUMP:-$TOP/build/segdump}
STORM=${STORM:-$TOP/build/storm}

if [ ! -x "$SEGDUMP" ] && ! make -C "$TOP" --no-print-directory -s build/segdump >/dev/null 2>&1; then
	fail segments/build "build/segdump missing and 'make build/segdump' failed"
	exit 1
fi
need_tools segments tcpdump tshark

# start_segdump OUT NS: segdump in the background (it enters NS itself),
# waits for its "ready" line. Sets SEG_PID.
start_segdump() {
	local out=$1 ns=$2
	"$SEGDUMP" "/var/run/netns/$ns" >"$out" 2>"$out.err" &
	SEG_PID=$!
	cleanup_add "stop_pid $SEG_PID INT 5"
	wait_ready "$SEG_PID" '^ready' "$out" "$out.err"
}

# pending_state NS: "counted=N entries=M": the pending-segment counts
# (all buckets, all epochs) and entries of the segdump attached to NS's lo
pending_state() {
	local ns=$1 prog maps m name counted="?" entries="?"
	prog=$(ip netns exec "$ns" tc filter show dev lo ingress | grep -o ' id [0-9]*' | awk '{print $2; exit}')
	[ -n "$prog" ] || { echo "no program on lo"; return; }
	maps=$(bpftool -j prog show id "$prog" | python3 -c 'import json,sys; print(*json.load(sys.stdin)["map_ids"])')
	for m in $maps; do
		name=$(bpftool -j map show id "$m" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("name", ""))')
		case $name in
		pending) # value: lock u32, n u32, victim u32, pad u32, then 4 x {tag u64, ack u32, epoch u32}, little-endian
			read -r counted entries < <(bpftool -j map dump id "$m" | python3 -c '
import json, sys
le = lambda v, o, n: int.from_bytes(bytes(int(b, 16) for b in v[o:o + n]), "little")
vals = [e["value"] for e in json.load(sys.stdin)]
print(sum(le(v, 4, 4) for v in vals),
      sum(1 for v in vals for i in range(4) if le(v, 16 + 16 * i, 8)))') ;;
		esac
	done
	echo "counted=$counted entries=$entries"
}

# filters NS DEV: our filters left on DEV's clsact hooks (0 if none)
filters() {
	local ns=$1 dev=$2
	{
		ip netns exec "$ns" tc filter show dev "$dev" ingress
		ip netns exec "$ns" tc filter show dev "$dev" egress
	} 2>/dev/null | grep -c 'handle'
}

if ! ns=$(ns_create seg); then
	fail segments/netns "ip netns add failed"
	exit 1
fi
NS_INODE=$(ns_inode "$ns")

# ---- 1. segments against tcpdump ----------------------------------------

pcap=$TMP/seg.pcap
# -Z root: tcpdump would otherwise drop to its own user, which cannot
# write into $TMP; headers only (-s 200): tcp.len comes from the IP header
ip netns exec "$ns" tcpdump -Z root -i lo -nn -S -s 200 -U --immediate-mode \
	-w "$pcap" tcp 2>"$TMP/tcpdump.err" &
TCPDUMP_PID=$!
cleanup_add "stop_pid $TCPDUMP_PID INT 5"
for i in $(seq 100); do
	grep -q 'listening on' "$TMP/tcpdump.err" && break
	sleep 0.05
done
if ! grep -q 'listening on' "$TMP/tcpdump.err"; then
	fail segments/tcpdump "tcpdump did not start: $(tr '\n' ' ' <"$TMP/tcpdump.err")"
	exit 1
fi

out=$TMP/segdump.out
if start_segdump "$out" "$ns"; then
	pass "segments/start ($(head -n 1 "$out"))"
else
	fail segments/start "segdump did not start: $(tr '\n' ' ' <"$out.err")"
	exit 1
fi
if [ "$(filters "$ns" lo)" -eq 2 ]; then
	pass segments/attached
else
	fail segments/attached "expected our filter on lo ingress and egress"
fi

traffic_ok=1
run_tcpctl() {
	if ! ip netns exec "$ns" timeout 30 "$TCPCTL" "$@" >>"$TMP/tcpctl.out" 2>>"$TMP/tcpctl.err"; then
		fail "segments/tcpctl" "tcpctl $* failed: $(tail -n 2 "$TMP/tcpctl.err" | tr '\n' ' ')"
		traffic_ok=0
	fi
}
run_tcpctl client-first --addr 127.0.0.1 --count 2
run_tcpctl client-first --addr ::1
run_tcpctl server-first --addr 127.0.0.1
run_tcpctl server-first --addr ::1 --count 2
run_tcpctl refused --addr 127.0.0.1
run_tcpctl refused --addr ::1
run_tcpctl reset --addr 127.0.0.1
run_tcpctl reset --addr ::1
# data-heavy connections: most segments are data and ACKs; FINs may ride
# on data (the FIN's ACK is then seq + payload + 1)
if ! ip netns exec "$ns" timeout 30 "$STORM" --payload 100000 --max-conns 40 \
	--duration 10 --clients 2 --servers 2 >"$TMP/storm.out" 2>&1; then
	fail segments/storm "storm failed: $(tail -n 2 "$TMP/storm.out" | tr '\n' ' ')"
	traffic_ok=0
fi
# a handshake whose bare ACK is lost: an nft rule (in the test namespace
# only) drops the first segment with ACK but no SYN/FIN/RST that each
# client sends to port 7777: the bare ACK that ends the handshake (Linux
# sends it at once); the client's first data segment then completes it (the
# server still held a request socket)
if ip netns exec "$ns" nft -f - <<'EOF'
table inet sfseg {
	set hs {
		type ipv4_addr . inet_service
		flags dynamic, timeout
		timeout 1m
	}
	chain out {
		type filter hook output priority 0; policy accept;
		ip daddr 127.0.0.1 tcp dport 7777 tcp flags & (fin | syn | rst | ack) == ack ip saddr . tcp sport != @hs add @hs { ip saddr . tcp sport } drop
	}
}
EOF
then
	if ! ip netns exec "$ns" timeout 20 python3 - >"$TMP/lostack.out" 2>&1 <<'EOF'
import socket, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 7777))
srv.listen(4)
srv.settimeout(5)
c = socket.create_connection(("127.0.0.1", 7777), timeout=5)
time.sleep(0.1)  # well before the SYN-ACK is retransmitted (1 s)
c.sendall(b"hello")
a, _ = srv.accept()
a.settimeout(5)
assert a.recv(5) == b"hello"
c.close()
assert a.recv(5) == b""
a.close()
time.sleep(0.1)
EOF
	then
		fail segments/lost-ack "client/server failed: $(tail -n 2 "$TMP/lostack.out" | tr '\n' ' ')"
		traffic_ok=0
	fi
	ip netns exec "$ns" nft delete table inet sfseg
else
	fail segments/lost-ack "nft rule not accepted"
	traffic_ok=0
fi
[ "$traffic_ok" = 1 ] && pass segments/traffic
sleep 0.3 # let the last segments reach both consumers

state=$(pending_state "$ns")
if [ "$state" = "counted=0 entries=0" ]; then
	pass "segments/pending-zero ($state)"
else
	fail segments/pending-zero "after all was acknowledged: $state (expected counted=0 entries=0)"
fi

stop_pid "$SEG_PID" INT 10
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^done' "$out"; then
	pass "segments/exit ($(tail -n 1 "$out"))"
else
	fail segments/exit "segdump exited $rc on SIGINT: $(tr '\n' ' ' <"$out.err")"
fi
stop_pid "$TCPDUMP_PID" INT 10
if grep -q '^0 packets dropped by kernel' "$TMP/tcpdump.err"; then
	pass segments/tcpdump-complete
else
	fail segments/tcpdump-complete "$(tr '\n' ' ' <"$TMP/tcpdump.err")"
fi

if [ "$(filters "$ns" lo)" -eq 0 ]; then
	pass segments/detached
else
	fail segments/detached "filters left on lo: $(ip netns exec "$ns" tc filter show dev lo ingress)"
fi
if ip netns exec "$ns" tc qdisc show dev lo | grep -q clsact; then
	fail segments/qdisc-removed "the clsact qdisc segdump created is still there"
else
	pass segments/qdisc-removed
fi

tshark -r "$pcap" -T fields -E separator='|' -e ip.src -e ipv6.src -e tcp.srcport \
	-e ip.dst -e ipv6.dst -e tcp.dstport -e tcp.seq_raw -e tcp.ack_raw -e tcp.flags \
	-e tcp.len -e tcp.window_size_value >"$TMP/pkts.txt" 2>"$TMP/tshark.err"

python3 - "$TMP/pkts.txt" "$out" "$NS_INODE" <<'EOF' || _failed=1
import sys
from collections import Counter

pkts_file, seg_file, inode = sys.argv[1], sys.argv[2], sys.argv[3]
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
failed = False

def ok(name, cond, why=""):
    global failed
    if cond:
        print(f"PASS segments/{name}")
    else:
        failed = True
        print(f"FAIL segments/{name}: {why}")

pkts = []
for line in open(pkts_file):
    f = line.rstrip("\n").split("|")
    if len(f) < 11 or not f[2]:
        continue
    src, dst = f[0] or f[1], f[3] or f[4]
    pkts.append(dict(src=src, sport=int(f[2]), dst=dst, dport=int(f[5]),
                     seq=int(f[6]), ack=int(f[7] or 0), flags=int(f[8], 16),
                     payload=int(f[9]), win=int(f[10])))

events = []
for line in open(seg_file):
    if not line.startswith("seg "):
        continue
    kv = dict(x.split("=", 1) for x in line.split()[1:])
    fl = 0
    for c in kv["flags"]:
        fl |= {"F": FIN, "S": SYN, "R": RST, "P": 0x08, "A": ACK,
               "U": 0x20, "E": 0x40, "C": 0x80}.get(c, 0)
    kv["flagbits"] = fl
    events.append(kv)

def key(src, sport, dst, dport, seq, ack, flags, payload, win):
    return (src, int(sport), dst, int(dport), int(seq), int(ack), int(flags),
            int(payload), int(win))

def pkey(p):
    return key(p["src"], p["sport"], p["dst"], p["dport"], p["seq"], p["ack"],
               p["flags"], p["payload"], p["win"])

def ekey(e):
    return key(e["src"], e["sport"], e["dst"], e["dport"], e["seq"], e["ack"],
               e["flagbits"], e["payload"], e["win"])

seen = {d: Counter(ekey(e) for e in events if e["dir"] == d) for d in ("eg", "in")}

def first_ack(i, want):
    """index of the first segment after pkts[i] the other way with ACK and
    ack == want, or None"""
    p = pkts[i]
    for j in range(i + 1, len(pkts)):
        q = pkts[j]
        if (q["src"], q["sport"], q["dst"], q["dport"]) == (p["dst"], p["dport"], p["src"], p["sport"]) \
                and q["flags"] & ACK and q["ack"] == want:
            return j
    return None

# the ACK of each FIN: first later segment the other way with ack = FIN end
finacks, unacked = set(), []
for i, p in enumerate(pkts):
    if not p["flags"] & FIN:
        continue
    end = (p["seq"] + p["payload"] + 1 + (1 if p["flags"] & SYN else 0)) % 2**32
    j = first_ack(i, end)
    if j is None:
        unacked.append(p)
    else:
        finacks.add(j)

# the segment that completes each handshake: first later segment the other
# way acknowledging the SYN-ACK (ack = its seq + 1)
hsacks, hs_open = set(), []
for i, p in enumerate(pkts):
    if p["flags"] & (SYN | ACK | RST) != SYN | ACK:
        continue
    j = first_ack(i, (p["seq"] + 1 + p["payload"]) % 2**32)
    if j is None:
        hs_open.append(p)
    else:
        hsacks.add(j)

expected = Counter()
kinds = {"syn": [], "synack": [], "fin": [], "rst": [], "fin-ack": [], "hs-ack": []}
plain = []
for i, p in enumerate(pkts):
    fl = p["flags"]
    if fl & RST:
        kinds["rst"].append(p)
    elif fl & SYN:
        kinds["synack" if fl & ACK else "syn"].append(p)
    elif fl & FIN:
        kinds["fin"].append(p)
    if i in finacks:
        kinds["fin-ack"].append(p)
    if i in hsacks:
        kinds["hs-ack"].append(p)
    if fl & (SYN | FIN | RST) or i in finacks or i in hsacks:
        expected[pkey(p)] += 1
    else:
        plain.append(p)

ok("fin-ack-found", not unacked, f"{len(unacked)} FINs never acknowledged, e.g. {unacked[:1]}")
ok("hs-ack-found", not hs_open, f"{len(hs_open)} SYN-ACKs never acknowledged, e.g. {hs_open[:1]}")
by_data = [p for p in kinds["hs-ack"] if p["payload"]]
ok(f"hs-by-data ({len(by_data)} handshakes completed by data)",
   any(p["dport"] == 7777 for p in by_data),
   f"the lost-ACK connection to port 7777 was not completed by data: {by_data[:2]}")
for kind, lst in kinds.items():
    missing = []
    for p in lst:
        k = pkey(p)
        for d in ("eg", "in"):
            if seen[d][k] < expected[k]:
                missing.append(f"{d}:{k}")
    ok(f"{kind} ({len(lst)} on the wire, each reported egress+ingress)",
       lst and not missing,
       f"{len(missing)} not reported, e.g. {missing[:2]}" if lst else "none on the wire")

reported_plain = [p for p in plain if seen["eg"][pkey(p)] or seen["in"][pkey(p)]]
ok(f"no-data ({len(plain)} data/ACK segments on the wire, none reported)",
   len(plain) > 100 and not reported_plain,
   f"{len(reported_plain)} reported, e.g. {reported_plain[:2]}" if reported_plain
   else f"only {len(plain)} data segments: the test is not meaningful")

extra = []
for d in ("eg", "in"):
    for k, n in seen[d].items():
        if n > expected[k]:
            extra.append(f"{d}:{k}")
ok(f"no-extra ({len(events)} events)", not extra, f"{len(extra)} events match no expected segment, e.g. {extra[:2]}")
bad_ns = [e for e in events if e["netns"] != inode]
ok("netns", events and not bad_ns, f"{len(bad_ns)} events name another namespace, e.g. {bad_ns[:1]}")
bad_if = [e for e in events if e["if"] != "1"]
ok("ifindex", not bad_if, f"{len(bad_if)} events not on lo")
sys.exit(1 if failed else 0)
EOF

# ---- 2. leftovers of a killed run ---------------------------------------

out2=$TMP/segdump-killed.out
if start_segdump "$out2" "$ns"; then
	kill -KILL "$SEG_PID"
	wait "$SEG_PID" 2>/dev/null
	if [ "$(filters "$ns" lo)" -eq 2 ]; then
		pass segments/killed-leaves-filters
	else
		fail segments/killed-leaves-filters "expected 2 filters after SIGKILL"
	fi
	out3=$TMP/segdump-restart.out
	if start_segdump "$out3" "$ns"; then
		if grep -q '^ready attached=1 stale=2' "$out3"; then
			pass "segments/stale-removed ($(head -n 1 "$out3"))"
		else
			fail segments/stale-removed "$(head -n 1 "$out3")"
		fi
		# a live instance is never taken for a leftover: a second one
		# takes the next priority beside it, and leaves it there
		first_pid=$SEG_PID
		if start_segdump "$TMP/second.out" "$ns"; then
			prefs=$(ip netns exec "$ns" tc filter show dev lo egress | grep -o 'pref [0-9]*' | sort -u | tr '\n' ' ')
			if grep -q '^ready attached=1 stale=0' "$TMP/second.out" && [ "$prefs" = "pref 1 pref 2 " ]; then
				pass "segments/second-instance-beside ($prefs)"
			else
				fail segments/second-instance-beside "$(head -n 1 "$TMP/second.out"); lo egress: $prefs"
			fi
			stop_pid "$SEG_PID" INT 10
			prefs=$(ip netns exec "$ns" tc filter show dev lo egress | grep -o 'pref [0-9]*' | sort -u | tr '\n' ' ')
			if [ "$(filters "$ns" lo)" -eq 2 ] && [ "$prefs" = "pref 1 " ]; then
				pass segments/live-kept
			else
				fail segments/live-kept "after the second one stopped, lo has $(filters "$ns" lo) filters ($prefs)"
			fi
		else
			fail segments/second-instance-beside "a second segdump did not start: $(tr '\n' ' ' <"$TMP/second.out.err")"
		fi
		SEG_PID=$first_pid
		# ---- 3. an interface that comes up later ----------------
		ip -n "$ns" link add sft0 type veth peer name sft1 &&
			ip -n "$ns" link set sft0 up && ip -n "$ns" link set sft1 up
		for i in $(seq 40); do
			[ "$(filters "$ns" sft0)" -eq 2 ] && [ "$(filters "$ns" sft1)" -eq 2 ] && break
			sleep 0.05
		done
		if [ "$(filters "$ns" sft0)" -eq 2 ] && [ "$(filters "$ns" sft1)" -eq 2 ]; then
			pass segments/follow-new-links
		else
			fail segments/follow-new-links "veth pair not attached: $(tr '\n' ' ' <"$out3")"
		fi
		stop_pid "$SEG_PID" INT 10
		rc=$?
		left=$(($(filters "$ns" lo) + $(filters "$ns" sft0) + $(filters "$ns" sft1)))
		if [ "$rc" -eq 0 ] && [ "$left" -eq 0 ]; then
			pass segments/restart-detached
		else
			fail segments/restart-detached "exit $rc, $left filters left"
		fi
	else
		fail segments/stale-removed "segdump did not start again: $(tr '\n' ' ' <"$out3.err")"
	fi
else
	fail segments/killed-leaves-filters "segdump did not start: $(tr '\n' ' ' <"$out2.err")"
fi

exit "$_failed"
