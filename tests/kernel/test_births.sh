#!/usr/bin/env bash
# Real-kernel test of how a server child's birth (LISTEN -> SYN_RECV) is
# sent: folded into the child's next record where server-side TCP Fast
# Open is off (Linux's default: every child is created by the final ACK),
# as a record of its own where it is on (a Fast Open child is created by
# the SYN and lives in SYN_RECV until the final ACK).
# Three fresh namespaces: one with the default net.ipv4.tcp_fastopen, one
# answering every SYN with a syncookie (net.ipv4.tcp_syncookies=2: the
# child is made from the cookie in the final ACK), one with Fast Open on;
# in each, a connection to a listener without Fast Open, and in the last
# one to a Fast Open listener too, data in the SYN (the kernel's
# TcpExtSyncookiesRecv and TcpExtTCPFastOpenPassive counters say cookies
# and Fast Open were used). The recording (--record) and the flow records
# are checked: every child's flow is whole, its SYN_RECEIVED timed from
# the SYN on the wire to ESTABLISHED.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root births

if ! off=$(ns_create births-off) || ! cookies=$(ns_create births-cookies) || ! on=$(ns_create births-on); then
	fail births/netns "ip netns add failed"
	exit 1
fi
ip netns exec "$cookies" sysctl -qw net.ipv4.tcp_syncookies=2 ||
	fail births/sysctl "net.ipv4.tcp_syncookies in the test namespace"
# client | server | client without cookie | server without cookie: data in
# the first SYN, no cookie exchange first
ip netns exec "$on" sysctl -qw net.ipv4.tcp_fastopen=0x207 ||
	fail births/sysctl "net.ipv4.tcp_fastopen in the test namespace"

out=$TMP/births.jsonl
rec=$TMP/births.rec
if ! start_synfin "$out" "$off" --netns "/var/run/netns/$cookies" --netns "/var/run/netns/$on" --record "$rec"; then
	fail births/start "synfin did not start: $(tr '\n' ' ' <"$out.err")"
	exit 1
fi

# conns.py KIND...: one connection per KIND (plain, fastopen) to a listener
# of that kind; prints the ports as JSON
cat >"$TMP/conns.py" <<'EOF'
import json, socket, sys, threading

def serve(ls):
    c, _ = ls.accept()
    data = c.recv(100)
    c.sendall(b"re:" + data)
    c.close()

res = {}
for kind in sys.argv[1:]:
    fastopen = kind == "fastopen"
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    if fastopen:
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 5)
    ls.listen(5)
    th = threading.Thread(target=serve, args=(ls,))
    th.start()
    c = socket.socket()
    if fastopen:
        # connect, the data in the SYN
        c.sendto(b"hello", socket.MSG_FASTOPEN, ls.getsockname())
    else:
        c.connect(ls.getsockname())
        c.sendall(b"hello")
    reply = c.recv(100)
    c.recv(100)  # the server closes first
    res[kind] = {"server_port": ls.getsockname()[1], "client_port": c.getsockname()[1], "reply": reply.decode()}
    c.close()
    th.join()
    ls.close()
print(json.dumps(res))
EOF
# counter NS NAME: a kernel TCP counter of NS
counter() {
	ip netns exec "$1" nstat -az "$2" | awk -v n="$2" '$1 == n { print $2 }'
}
tfo_before=$(counter "$on" TcpExtTCPFastOpenPassive)
cookies_before=$(counter "$cookies" TcpExtSyncookiesRecv)
for ns_kinds in "$off:off:plain" "$cookies:cookies:plain" "$on:on:plain fastopen"; do
	IFS=: read -r ns name kinds <<<"$ns_kinds"
	# shellcheck disable=SC2086 # the kinds are words
	ip netns exec "$ns" timeout 20 python3 "$TMP/conns.py" $kinds >"$TMP/$name.json" 2>"$TMP/$name.err" ||
		fail "births/connections-$name" "$(tr '\n' ' ' <"$TMP/$name.err")"
done
tfo_after=$(counter "$on" TcpExtTCPFastOpenPassive)
cookies_after=$(counter "$cookies" TcpExtSyncookiesRecv)
ns_settle "$off" "$cookies" "$on"
stop_synfin || fail births/synfin-exit "exited $? on SIGINT: $(tr '\n' ' ' <"$out.err")"

if [ "$((${tfo_after:-0} - ${tfo_before:-0}))" -eq 1 ]; then
	pass births/fastopen-used
else
	fail births/fastopen-used "TcpExtTCPFastOpenPassive went from '$tfo_before' to '$tfo_after', want one more"
fi
if [ "$((${cookies_after:-0} - ${cookies_before:-0}))" -eq 1 ]; then
	pass births/syncookie-used
else
	fail births/syncookie-used "TcpExtSyncookiesRecv went from '$cookies_before' to '$cookies_after', want one more"
fi

cat >"$TMP/check.py" <<'PY'
import json, struct, sys

rec, out, conns, netns, want = sys.argv[1:6]
netns = int(netns)
conns = json.load(open(conns))
data = open(rec, "rb").read()
size = struct.unpack_from("<I", data, 12)[0]
assert struct.unpack_from("<I", data, 16)[0] == 3, "recording is not event version 3"
F_FOLDED = 0x10
LISTEN, SYN_RECV, EST = 10, 3, 1
STATE, SEGMENT = 1, 6
events = []
for off in range(32, len(data) - size + 1, size):
    e = data[off:off + size]
    ts, sk, gen, cookie, ns = struct.unpack_from("<QQQQI", e, 0)
    sport, dport, ver, kind, fam, old, new, osrc, flags = struct.unpack_from("<HHBBBBBBH", e, 72)
    ev = dict(ts=ts, sk=sk, gen=gen, netns=ns, sport=sport, dport=dport, kind=kind, old=old, new=new, flags=flags)
    if kind == SEGMENT:
        ev["tcp_flags"] = e[88 + 18]
    events.append(ev)
flows = {}
for l in open(out):
    r = json.loads(l)
    if r["type"] == "flow" and r["role"] == "server" and r["netns"] == netns:
        flows[r["peer"]["port"]] = r

for kind, c in conns.items():
    sp, cp = c["server_port"], c["client_port"]
    name = f"{kind} ({want})"
    assert c["reply"] == "re:hello", (name, c)
    mine = [e for e in events if e["kind"] != SEGMENT and e["netns"] == netns and e["sport"] == sp and e["dport"] == cp]
    assert mine, f"{name}: no record of the server child"
    births = [e for e in mine if e["kind"] == STATE and e["old"] == LISTEN and e["new"] == SYN_RECV]
    carriers = [e for e in mine if e["flags"] & F_FOLDED]
    seg = lambda f, s, d: [e for e in events if e["kind"] == SEGMENT and e["tcp_flags"] == f and e["sport"] == s and e["dport"] == d]
    syn, synack = seg(0x02, cp, sp), seg(0x12, sp, cp)
    est = [e for e in mine if e["kind"] == STATE and e["new"] == EST]
    assert len(syn) == 1 and len(synack) == 1 and len(est) == 1, (name, syn, synack, est)
    if want == "folded":
        # no record of its own, the next one says it
        assert not births, f"{name}: the birth was sent: {births}"
        assert len(carriers) == 1 and carriers[0] is mine[0], f"{name}: carriers {carriers}, first {mine[0]}"
        assert mine[0]["kind"] == STATE and mine[0]["old"] == SYN_RECV and mine[0]["new"] == EST, mine[0]
        # created by the final ACK, after the SYN-ACK
        assert synack[0]["ts"] < mine[0]["gen"] <= mine[0]["ts"], (synack, mine[0])
    else:
        assert len(births) == 1 and not carriers, f"{name}: births {births}, carriers {carriers}"
        assert births[0]["ts"] == births[0]["gen"], births
        if kind == "fastopen":
            # born at the SYN, before its SYN-ACK
            assert births[0]["ts"] < synack[0]["ts"], (births, synack)
    f = flows.get(cp)
    assert f, f"{name}: no flow record of the server child"
    assert f["path"].startswith("LISTEN>SYN_RECEIVED>ESTABLISHED>"), (name, f["path"])
    assert not f["partial"], (name, f)
    # SYN_RECEIVED from the SYN on the wire to ESTABLISHED
    assert f["durations_from"]["syn_received"] == "segments", (name, f.get("durations_from"))
    wire = (est[0]["ts"] - syn[0]["ts"]) // 1000
    got = f["durations_us"]["syn_received"]
    assert abs(got - wire) <= 1, f"{name}: syn_received {got} us, the wire says {wire}"
PY
check births/fastopen-off-folded python3 "$TMP/check.py" "$rec" "$out" "$TMP/off.json" "$(ns_inode "$off")" folded
check births/syncookie-folded python3 "$TMP/check.py" "$rec" "$out" "$TMP/cookies.json" "$(ns_inode "$cookies")" folded
check births/fastopen-on-kept python3 "$TMP/check.py" "$rec" "$out" "$TMP/on.json" "$(ns_inode "$on")" kept

exit "$_failed"
