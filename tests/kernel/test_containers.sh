#!/usr/bin/env bash
# Containers on a real kernel: a container host in miniature. Namespace H
# holds a bridge br0 and the host ends of the containers' veths; C1 and C2
# play containers on it (C1 made before synfin starts, C2 after). synfin
# runs inside H with no scope but --netns-named, which keeps it to this
# test's namespaces (with no option at all it would follow every namespace
# on the machine, other tests' included). It must hook C2 once it appears,
# give both ends of a C1 -> C2 connection their segments, equal to tcpdump
# on the bridge (check_closes.py), and let go of C2 when it is deleted
# (no fd, no hook, the veth's host end gone with the namespace).
# A second host H2 with D1, D2 reusing C1's and C2's addresses and the
# very same ports: each pair's records carry only their own segments.
# Then 200 namespaces created and deleted: fds and memory bounded.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root containers
need_tools containers tcpdump tshark bpftool
WAIT="python3 $TOP/tests/kernel/jsonwait.py"
CHECK="python3 $TOP/tests/kernel/check_closes.py"
T="ct$$"                  # ns_create NAME -> synfin-t-ct$$-NAME-$$
PREFIX="synfin-t-$T-"

mkns() { ns_create "$T-$1"; }
# CONTAINERS_KEEP=DIR: keep the records, captures and tcpctl output there
if [ -n "${CONTAINERS_KEEP:-}" ]; then
	mkdir -p "$CONTAINERS_KEEP" && cleanup_add "cp -a $TMP/. $CONTAINERS_KEEP/"
fi

# bridge H: br0 in H, up
bridge() { ip -n "$1" link add br0 type bridge && ip -n "$1" link set br0 up; }

# container H C VETH ADDR: a veth VETH (host end, in H, on br0) to eth0 in C
container() {
	ip -n "$1" link add "$3" type veth peer name eth0 netns "$2" &&
		ip -n "$1" link set "$3" master br0 up &&
		ip -n "$2" addr add "$4/24" dev eth0 && ip -n "$2" link set eth0 up
}

# hooked NS [IF]: our filter is on IF's (eth0) ingress in NS
hooked() { tc -n "$1" filter show dev "${2:-eth0}" ingress 2>/dev/null | grep -q 'sf_seg_ingress'; }

# until TENTHS CMD...: CMD succeeds within TENTHS tenths of a second
until_ok() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# net_fds PID: the namespace inodes PID holds fds of
# (by the device of nsfs: an fd opened through /run/netns/X reads as that path)
net_fds() {
	python3 -c '
import os, sys
nsfs = os.stat("/proc/self/ns/net").st_dev
for fd in os.listdir("/proc/%s/fd" % sys.argv[1]):
    try:
        st = os.stat("/proc/%s/fd/%s" % (sys.argv[1], fd))
    except OSError:
        continue
    if st.st_dev == nsfs:
        print(st.st_ino)' "$1"
}

# pcap NS NAME: tcpdump on br0 in NS into $TMP/NAME.pcap; sets DUMP_PID_NAME
pcap() {
	local i
	ip netns exec "$1" tcpdump -i br0 -nn -S -Z root -U --immediate-mode -w "$TMP/$2.pcap" tcp \
		2>"$TMP/$2.pcap.err" &
	eval "DUMP_$2=$!"
	cleanup_add "stop_pid $! INT 5"
	for ((i = 0; i < 50; i++)); do
		grep -q 'listening on' "$TMP/$2.pcap.err" && return 0
		sleep 0.1
	done
	return 1
}

# connect NAME CLIENT_NS SERVER_NS ADDR: one tcpctl connection, fixed ports
connect() {
	timeout 10 "$TCPCTL" client-first --addr "$4" --port 20401 --client-port 40401 \
		--client-netns "/var/run/netns/$2" --server-netns "/var/run/netns/$3" \
		>"$TMP/$1.tcp" 2>"$TMP/$1.tcp.err"
}

# verify NAME PCAP NS... : records of these namespaces only, against PCAP
verify() {
	local name=$1 pcapname=$2
	shift 2
	python3 - "$OUT" "$TMP/$name.jsonl" "$@" <<-'PY'
		import json, sys
		keep = {int(x) for x in sys.argv[3:]}
		with open(sys.argv[2], "w") as out:
		    for line in open(sys.argv[1]):
		        r = json.loads(line)
		        if r.get("type") != "flow" or r.get("netns") in keep:
		            out.write(line)
	PY
	tshark -r "$TMP/$pcapname.pcap" -T fields -E separator='|' -e ip.src -e ipv6.src -e tcp.srcport \
		-e ip.dst -e ipv6.dst -e tcp.dstport -e tcp.seq_raw -e tcp.ack_raw -e tcp.flags \
		-e tcp.len -e tcp.window_size_value >"$TMP/$name.pkts" 2>"$TMP/$name.tshark.err"
	$CHECK --name "containers/$name" --scenario plain --jsonl "$TMP/$name.jsonl" \
		--tcpctl "$TMP/$name.tcp" --pkts "$TMP/$name.pkts" || _failed=1
}

# ---- the miniature host ---------------------------------------------------
H=$(mkns H) && H2=$(mkns H2) && C1=$(mkns C1) && D1=$(mkns D1) && D2=$(mkns D2) ||
	{ fail containers/setup "ip netns add failed"; exit 1; }
if ! { bridge "$H" && bridge "$H2" && container "$H" "$C1" v1 10.77.0.1 &&
	container "$H2" "$D1" v1 10.77.0.1 && container "$H2" "$D2" v2 10.77.0.2; }; then
	fail containers/setup "bridge or veth"
	exit 1
fi
pcap "$H" br1 && pcap "$H2" br2 || { fail containers/setup "tcpdump did not start"; exit 1; }

OUT=$TMP/out.jsonl
# nsenter, not ip netns exec: that one's private mount namespace does not
# see the namespaces ip netns mounts later
nsenter --net="/var/run/netns/$H" "$SYNFIN" --netns-named "$PREFIX" --detail segments --summary-interval 0 --no-socket -i 0 -o "$OUT" -v 2>"$OUT.err" &
SYNFIN_PID=$!
cleanup_add "stop_pid $SYNFIN_PID INT 5"
if ! wait_ready "$SYNFIN_PID" capturing "$OUT.err" "$OUT.err"; then
	fail containers/start "synfin did not start"
	exit 1
fi
check containers/hooked-at-start hooked "$C1"
check containers/bridge-hooked hooked "$H" br0
# a bridge port is left alone: what crosses it is seen on the container's
# own eth0 (or on br0, for H's own traffic)
if hooked "$H" v1; then
	fail containers/bridge-port-not-hooked "synfin's filter is on H's v1, a port of br0"
else
	pass containers/bridge-port-not-hooked
fi
if grep -q 'bridge/bond port(s) seen through' "$OUT.err"; then
	pass containers/bridge-port-said
else
	fail containers/bridge-port-said "-v does not say the bridge port was left alone: $(grep capturing "$OUT.err" | head -c 300)"
fi

# C2 comes after synfin: hooked within a scan (1 s) and a bit
t0=$(date +%s%N)
C2=$(mkns C2) && container "$H" "$C2" v2 10.77.0.2 || fail containers/setup "C2"
if until_ok 30 hooked "$C2"; then
	pass "containers/new-namespace-hooked ($((($(date +%s%N) - t0) / 1000000)) ms)"
else
	fail containers/new-namespace-hooked "no filter on C2's eth0 after 3 s"
fi
# an interface up before it is made a port: hooked a moment, then let go of
ip -n "$H" link add v3 type veth peer name v3p && ip -n "$H" link set v3 up &&
	until_ok 30 hooked "$H" v3 && ip -n "$H" link set v3 master br0 &&
	until_ok 30 bash -c "! tc -n $H filter show dev v3 ingress | grep -q sf_seg_ingress" &&
	pass containers/made-port-let-go || fail containers/made-port-let-go "H's v3 still hooked 3 s after it joined br0"
ip -n "$H" link del v3 2>/dev/null

# the same connection (addresses and ports) in both pairs
check containers/connect-c1-c2 connect c "$C1" "$C2" 10.77.0.2
check containers/connect-d1-d2 connect d "$D1" "$D2" 10.77.0.2
ns_settle "$C1" "$C2" "$D1" "$D2"
for who in c d; do
	$WAIT "$OUT" 5 "r['type']=='flow' and r['local']['port']==20401 and r['peer']['port']==40401 and r['netns']==$(ns_inode "$([ $who = c ] && echo "$C2" || echo "$D2")")" \
		>/dev/null || fail "containers/$who/server-record" "no server flow record within 5 s"
done

# both pairs' segments were seen once per end, on the containers' own
# interfaces: nothing captured that matches no flow
kill -USR1 "$SYNFIN_PID"
if $WAIT "$OUT" 5 "r['type']=='stats' and r['events']['segments_unmatched']==0" >/dev/null; then
	pass containers/no-unmatched-segments
else
	fail containers/no-unmatched-segments "stats events: $(python3 -c 'import json,sys; print([r["events"] for r in map(json.loads, open(sys.argv[1])) if r.get("type") == "stats"][-1:])' "$OUT" 2>&1 | head -c 400)"
fi

# C2 deleted mid-run: synfin lets go of it, the kernel frees it
c2ino=$(ns_inode "$C2")
ip netns del "$C2"
if until_ok 30 bash -c "! ip -n $H link show v2 >/dev/null 2>&1"; then
	pass containers/deleted-namespace-freed
else
	fail containers/deleted-namespace-freed "C2's veth still in H after 3 s: something holds C2"
fi
if net_fds "$SYNFIN_PID" | grep -qx "$c2ino"; then
	fail containers/deleted-no-fd "synfin still holds net:[$c2ino]"
else
	pass containers/deleted-no-fd
fi

kill -USR1 "$SYNFIN_PID"
$WAIT "$OUT" 5 "r['type']=='stats' and r['netns']['removed']>=1" >/dev/null ||
	fail containers/stats "no stats record with netns.removed >= 1"

# ---- 200 namespaces come and go -------------------------------------------
rss() { awk '/^VmRSS/ {print $2}' /proc/"$SYNFIN_PID"/status; }
nfds() { ls /proc/"$SYNFIN_PID"/fd | wc -l; }
# churn FROM TO: namespaces FROM..TO, each with a veth pair, made and deleted
churn() {
	local i n
	for ((i = $1; i <= $2; i++)); do
		n="${PREFIX}loop$i-$$"
		ip netns add "$n" && ip -n "$n" link set lo up &&
			ip -n "$n" link add name sfa type veth peer name sfb &&
			ip -n "$n" link set sfa up && ip -n "$n" link set sfb up
		# every 25th is given the time to be hooked before it goes
		((i % 25)) || until_ok 30 hooked "$n" sfa || fail containers/loop-hooked "namespace $i not hooked in 3 s"
		ip netns del "$n"
	done
	# a scan (every second; later on a loaded machine) lets go of the
	# last ones: measured once they are let go of
	until_ok 150 settled || echo "# namespaces still held 15 s after the churn"
}
# settled: synfin holds no namespace but the test's own (and its own one)
settled() {
	[ "$(net_fds "$SYNFIN_PID" | wc -l)" -le $(($(ip netns list | awk '{print $1}' | grep -c "^$PREFIX") + 1)) ]
}
t0=$(date +%s)
churn 1 100
fds0=$(nfds) rss0=$(rss)
churn 101 200
echo "# 200 namespaces made and deleted in $(($(date +%s) - t0)) s"
fds1=$(nfds) rss1=$(rss)
if [ "$fds1" -le "$fds0" ]; then
	pass "containers/loop-fds-bounded ($fds0 -> $fds1 over the second 100)"
else
	fail containers/loop-fds-bounded "fds $fds0 -> $fds1 over the second 100 namespaces"
fi
# the flow table grows with the machine's own traffic (state events are
# not scoped): what 100 namespaces may add is bounded at 4 MiB
if [ "$rss1" -le $((rss0 + 4096)) ]; then
	pass "containers/loop-memory-bounded (RSS $rss0 -> $rss1 KiB over the second 100)"
else
	fail containers/loop-memory-bounded "RSS $rss0 -> $rss1 KiB over the second 100 namespaces"
fi
left=$(net_fds "$SYNFIN_PID" | wc -l)
want=$(ip netns list | awk '{print $1}' | grep -c "^$PREFIX")
if [ "$left" -le $((want + 1)) ]; then
	pass "containers/loop-no-namespace-held ($left namespace fds, $want namespaces)"
else
	fail containers/loop-no-namespace-held "$left namespace fds for $want namespaces"
fi

stop_synfin
rc=$?
[ "$rc" -eq 0 ] && pass containers/exit || fail containers/exit "exit status $rc: $(tail -n 2 "$OUT.err")"
for p in "$DUMP_br1" "$DUMP_br2"; do stop_pid "$p" INT 5; done
for f in br1 br2; do
	grep -q '^0 packets dropped by kernel' "$TMP/$f.pcap.err" ||
		fail "containers/tcpdump-$f" "capture incomplete: $(tr '\n' ' ' <"$TMP/$f.pcap.err")"
done
# C1 and C2 (C2's inode noted before it went), D1 and D2: never each other's
verify c br1 "$(ns_inode "$C1")" "$c2ino"
verify d br2 "$(ns_inode "$D1")" "$(ns_inode "$D2")"
# synfin's hooks are off every interface that is left
left=""
for ns_if in "$H v1" "$H br0" "$C1 eth0" "$H2 v1" "$H2 v2" "$D1 eth0" "$D2 eth0"; do
	# shellcheck disable=SC2086 # two words on purpose
	hooked $ns_if && left="$left ${ns_if// /:}"
done
[ -z "$left" ] && pass containers/no-filter-left || fail containers/no-filter-left "on$left"
exit "$_failed"
