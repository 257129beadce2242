#!/usr/bin/env python3
"""Check synfin's flow records of one tcpctl connection against tcpdump.

usage: check_closes.py --name NAME --scenario S --jsonl OUT --tcpctl TCPCTL_OUT
                       --pkts PKTS [--listen-port P] [--send-after-fin BYTES]
                       [--hold-us N]

PKTS is what tshark printed for the capture (one line per packet):
  tshark -r FILE -T fields -E separator='|' -e ip.src -e ipv6.src
         -e tcp.srcport -e ip.dst -e ipv6.dst -e tcp.dstport -e tcp.seq_raw
         -e tcp.ack_raw -e tcp.flags -e tcp.len -e tcp.window_size_value

The connection is the one "conn ..." line of TCPCTL_OUT. Its client flow has
local = client, peer = server; its server flow the reverse. Checks, one
"PASS NAME/..." or "FAIL NAME/...: why" line each:

  oracle    every segment a flow reports (segments.handshake, .teardown,
            .reset) is on the wire: a packet with the same source and
            destination (dir out = sent by the flow's local end), flags, seq,
            ack, window and payload length
  order     each numbered segment is the one the capture says it is:
            1 the first SYN, 2 the first SYN-ACK, 3 the first segment from the
            client acknowledging it (seq + 1); 4 the first FIN, 5 the first
            segment the other way acknowledging it, 6 the other end's FIN,
            7 the first segment acknowledging 6; the reset entry the first RST.
            5 may be left out
            only when it is 6 itself (three_way). No entry that the capture
            has may be missing.
  rtx       segments.retransmits: syn, synack, fin = the repeated SYNs,
            SYN-ACKs and FINs (both directions) on the wire
  rtx-top   the flow's top-level retransmits (absent = 0): syn, synack, fin
            = the SYNs, SYN-ACKs, FINs this end itself sent again
  S         the scenario's own assertions (see SCENARIOS below)
"""

import argparse
import json
import sys

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10,
             "U": 0x20, "E": 0x40, "C": 0x80}
failures = 0


def report(name, problems):
    global failures
    if problems:
        failures += 1
        more = " (+%d more)" % (len(problems) - 4) if len(problems) > 4 else ""
        print("FAIL %s: %s%s" % (name, "; ".join(problems[:4]), more))
    else:
        print("PASS %s" % name)


def split_endpoint(s):
    addr, _, port = s.rpartition(":")
    return addr.strip("[]"), int(port)


def read_conn(path):
    conns = []
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith("conn "):
            kv = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
            conns.append((split_endpoint(kv["client"]),
                          split_endpoint(kv["server"]), kv["result"]))
    return conns


def read_pkts(path):
    pkts = []
    for line in open(path):
        f = line.rstrip("\n").split("|")
        if len(f) < 11 or not f[2]:
            continue
        pkts.append(dict(src=(f[0] or f[1], int(f[2])),
                         dst=(f[3] or f[4], int(f[5])),
                         seq=int(f[6]), ack=int(f[7] or 0),
                         flags=int(f[8], 16) & 0xff, len=int(f[9] or 0),
                         win=int(f[10] or 0)))
    return pkts


def seq_end(p):
    return (p["seq"] + p["len"] + (1 if p["flags"] & (SYN | FIN) else 0)) % 2**32


def pkey(p):
    return (p["src"], p["dst"], p["flags"], p["seq"], p["ack"], p["win"], p["len"])


def entry_key(e, local, peer):
    fl = 0
    for c in e.get("flags", ""):
        fl |= FLAG_BITS.get(c, 0x100)
    src, dst = (local, peer) if e.get("dir") == "out" else (peer, local)
    return (src, dst, fl, e.get("seq"), e.get("ack"), e.get("win"), e.get("len", 0))


def show(k):
    if k is None:
        return "nothing"
    src, dst, fl, seq, ack, win, ln = k
    names = "".join(c for c, b in FLAG_BITS.items() if fl & b)
    return "%s:%d>%s:%d %s seq=%s ack=%s win=%s len=%s" % (
        src[0], src[1], dst[0], dst[1], names, seq, ack, win, ln)


NOT_HAPPENED = 3


def not_crossed(pkts, client, server):
    """None if the FINs crossed: the last FIN each end sent (the one that
    got through once the drop was lifted) does not acknowledge the other
    end's FIN, so neither had received a FIN when it sent its own, and on
    arrival each found its peer in FIN_WAIT_1. Else why not."""
    last, fin = {}, {}
    for p in pkts:
        if p["flags"] & FIN:
            last[p["src"]] = p
            fin.setdefault(p["src"], p["seq"])
    if set(fin) != {client, server}:
        return "FINs on the wire from %d end(s)" % len(fin)
    for a, b, who in ((client, server, "client"), (server, client, "server")):
        if last[a]["ack"] == (fin[b] + 1) & 0xffffffff:
            return "the %s's last FIN acknowledges the peer's" % who
    return None


def not_three_way(pkts, client, server):
    """None if the server's FIN carried the ACK of the client's: no pure
    ACK of it went first (the delayed ACK timer, ~40 ms, fired before the
    server closed: a preempted tcpctl). Else why not."""
    f4 = first(pkts, lambda p: p["flags"] & FIN and p["src"] == client)
    if f4 is None:
        return "no FIN from the client"
    end = (pkts[f4]["seq"] + pkts[f4]["len"] + 1) & 0xffffffff
    for p in pkts[f4 + 1:]:
        if p["src"] == server and p["ack"] == end and p["flags"] & ACK:
            return None if p["flags"] & FIN else "the client's FIN was acknowledged alone"
    return "the client's FIN was never acknowledged"


def first(pkts, pred, start=0):
    for i in range(start, len(pkts)):
        if pred(pkts[i]):
            return i
    return None


def expected_segments(pkts, fin1_side=None):
    """slot number -> index in pkts of the packet the capture says it is.
    fin1_side: the end whose FIN counts as 4 (default: the first on the wire)"""
    want = {}
    i1 = first(pkts, lambda p: p["flags"] & (SYN | ACK) == SYN)
    i2 = first(pkts, lambda p: p["flags"] & (SYN | ACK) == SYN | ACK)
    if i1 is not None:
        want[1] = i1
    if i2 is not None:
        want[2] = i2
        s2 = pkts[i2]
        i3 = first(pkts, lambda p: p["src"] == s2["dst"] and p["flags"] & ACK and
                   not p["flags"] & (SYN | RST) and p["ack"] == seq_end(s2), i2 + 1)
        if i3 is not None:
            want[3] = i3
    fins = [i for i, p in enumerate(pkts) if p["flags"] & FIN]
    if fins:
        side = fin1_side or pkts[fins[0]]["src"]
        i4 = next((i for i in fins if pkts[i]["src"] == side), None)
        if i4 is not None:
            want[4] = i4
            f1 = pkts[i4]
            i5 = first(pkts, lambda p: p["src"] == f1["dst"] and p["flags"] & ACK and
                       p["ack"] == seq_end(f1), i4 + 1)
            if i5 is not None:
                want[5] = i5
            i6 = next((i for i in fins if pkts[i]["src"] == f1["dst"]), None)
            if i6 is not None:
                want[6] = i6
                f2 = pkts[i6]
                i7 = first(pkts, lambda p: p["src"] == f2["dst"] and p["flags"] & ACK and
                           p["ack"] == seq_end(f2), i6 + 1)
                if i7 is not None:
                    want[7] = i7
    ir = first(pkts, lambda p: p["flags"] & RST)
    if ir is not None:
        want["rst"] = ir
    return want


def rkey(p):
    """what a retransmission repeats: the SYN's or the FIN's own sequence
    number (a FIN's follows its payload), not necessarily the ack, window
    or payload: a FIN sent again after the peer's FIN arrived acknowledges
    it, and one sent again may carry data queued before it (the kernel
    merges small segments when it retransmits)"""
    end = (p["seq"] + p["len"]) & 0xffffffff if p["flags"] & FIN else p["seq"]
    return (p["src"], p["dst"], p["flags"] & (SYN | FIN), end)


def repeats(pkts, pred, copies):
    """transmissions beyond the first of each SYN or FIN matching pred"""
    n = {}
    for p in pkts:
        if pred(p):
            n[rkey(p)] = n.get(rkey(p), 0) + 1
    return sum(max(0, c // copies - 1) for c in n.values())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--tcpctl", required=True)
    ap.add_argument("--pkts", required=True)
    ap.add_argument("--listen-port", type=int)
    ap.add_argument("--send-after-fin", type=int, default=0)
    ap.add_argument("--hold-us", type=int, default=0)
    a = ap.parse_args()
    name, sc = a.name, a.scenario

    recs = [json.loads(l) for l in open(a.jsonl, encoding="utf-8") if l.strip()]
    conns = read_conn(a.tcpctl)
    if len(conns) != 1:
        report(name + "/tcpctl", ["%d connections reported, expected 1" % len(conns)])
        return
    client, server, result = conns[0]
    pair = {client, server}
    allp = read_pkts(a.pkts)
    pkts = [p for p in allp if {p["src"], p["dst"]} == pair]
    # on lo a packet socket may see each transmission twice (out and in):
    # the connection's first SYN was sent once
    syn = first(pkts, lambda p: p["flags"] & (SYN | ACK) == SYN)
    copies = max(1, sum(1 for p in pkts if syn is not None and pkey(p) == pkey(pkts[syn])))
    report(name + "/capture", [] if syn is not None else
           ["no SYN %s:%d -> %s:%d in the capture (%d packets)" % (client + server + (len(allp),))])
    if syn is None:
        return
    why = None
    if sc == "simultaneous":
        why = not_crossed(pkts, client, server)
    elif sc == "three-way":
        why = not_three_way(pkts, client, server)
    if why:
        # the kernel's timing, not synfin: the test tries again
        print("# %s: not on the wire this time: %s" % (name, why))
        sys.exit(NOT_HAPPENED)
    wire = {pkey(p) for p in pkts}

    flows = {}
    p = []
    for end, local, peer in (("client", client, server), ("server", server, client)):
        found = [r for r in recs if r.get("type") == "flow" and
                 (r["local"]["address"], r["local"]["port"]) == local and
                 (r["peer"]["address"], r["peer"]["port"]) == peer]
        if end == "server" and sc == "refused":
            if found:
                p.append("a server flow for a refused connection: %s" % json.dumps(found[0])[:200])
            continue
        if len(found) != 1:
            p.append("%d %s flow records for %s:%d -> %s:%d, expected 1" % ((len(found), end) + local + peer))
            continue
        flows[end] = (found[0], local, peer)
    report(name + "/records", p)

    for end, (r, local, peer) in sorted(flows.items()):
        tag = "%s/%s" % (name, end)
        g = r.get("segments")
        if not isinstance(g, dict):
            report(tag + "/oracle", ["no segments object: %s" % json.dumps(r)[:300]])
            continue
        entries = [("hs", e) for e in g.get("handshake", [])] + \
                  [("td", e) for e in g.get("teardown", [])] + \
                  [("rst", e) for e in g.get("reset", [])]
        # every entry is on the wire
        p = []
        for kind, e in entries:
            k = entry_key(e, local, peer)
            if k not in wire:
                p.append("%s entry %s not on the wire: %s" % (kind, e.get("n", "rst"), show(k)))
            if e.get("acks_ok") is False:
                p.append("entry %s: acks_ok false" % e.get("n"))
        report("%s/oracle (%d entries)" % (tag, len(entries)), p)

        # each is the segment the capture says it is
        byn = {e["n"]: e for kind, e in entries if kind != "rst"}
        want = expected_segments(pkts)
        p = []
        for n, i in sorted(want.items(), key=str):
            wk = pkey(pkts[i])
            if n == "rst":
                rs = g.get("reset") or []
                got = entry_key(rs[0], local, peer) if rs else None
            elif n == 5 and 5 not in byn and 6 in want and pkey(pkts[want[6]]) == wk:
                continue  # three_way: 5 rides on 6
            else:
                got = entry_key(byn[n], local, peer) if n in byn else None
            if got != wk:
                p.append("segment %s: synfin %s, capture %s" % (n, show(got), show(wk)))
        extra = sorted(set(byn) - set(want))
        if extra:
            p.append("entries %s not found in the capture" % extra)
        report("%s/order" % tag, p)

        # retransmissions
        p = []
        rt = g.get("retransmits") or {}
        w = {"syn": repeats(pkts, lambda q: q["flags"] & (SYN | ACK) == SYN, copies),
             "synack": repeats(pkts, lambda q: q["flags"] & (SYN | ACK) == SYN | ACK, copies),
             "fin": repeats(pkts, lambda q: q["flags"] & FIN, copies)}
        for k, v in w.items():
            if rt.get(k) != v:
                p.append("segments.retransmits.%s %s, the wire has %d" % (k, rt.get(k), v))
        report(tag + "/rtx", p)
        # the top-level counts: what this end itself sent again
        p = []
        top = r.get("retransmits") or {}
        mine = {"syn": lambda q: q["flags"] & (SYN | ACK) == SYN,
                "synack": lambda q: q["flags"] & (SYN | ACK) == SYN | ACK,
                "fin": lambda q: q["flags"] & FIN}
        for k, pred in mine.items():
            v = repeats(pkts, lambda q: pred(q) and q["src"] == local, copies)
            if top.get(k, 0) != v:
                p.append("retransmits.%s %s, this end sent its %s again %d time(s) on the wire" % (
                    k, top.get(k, "absent (0)"), {"syn": "SYN", "synack": "SYN-ACK",
                                                  "fin": "FIN"}[k], v))
        report(tag + "/rtx-top", p)

    SCENARIOS[sc](name, flows, pkts, a, copies, recs)
    if failures:
        # what synfin says it missed: helps tell a lost event from a wrong one
        st = [r for r in recs if r.get("type") == "stats"]
        if st:
            ev, bpf = st[-1].get("events", {}), st[-1].get("bpf", {})
            print("# %s synfin stats at exit: events %s, bpf %s" % (
                name, json.dumps(ev, separators=(",", ":")), json.dumps(bpf, separators=(",", ":"))))


def check(name, cond, why):
    report(name, [] if cond else [why])


def teardown_ns(r):
    return [e.get("n") for e in (r.get("segments") or {}).get("teardown", [])]


def td(r, n):
    return next((e for e in (r.get("segments") or {}).get("teardown", []) if e.get("n") == n), None)


def brief(r):
    g = r.get("segments") or {}
    return "path=%s close=%s closer=%s segments.close=%s teardown=%s retransmits=%s" % (
        r.get("path"), r.get("close"), r.get("closer"), g.get("close"), teardown_ns(r),
        g.get("retransmits"))


def sc_simultaneous(name, flows, pkts, a, copies, recs):
    for end, (r, _, _) in sorted(flows.items()):
        g = r.get("segments") or {}
        check("%s/%s/simultaneous" % (name, end),
              "FIN_WAIT_1>CLOSING>TIME_WAIT" in r.get("path", "") and
              r.get("close") == "simultaneous" and r.get("closer") == "both" and
              g.get("close") == "simultaneous" and
              (g.get("retransmits") or {}).get("fin", 0) >= 1 and
              sorted(teardown_ns(r)) == [4, 5, 6, 7], brief(r))


def sc_data_fin(name, flows, pkts, a, copies, recs):
    """the client's FIN queued behind data: while both were dropped the
    kernel sent the data again in FIN_WAIT_1, which is no FIN retransmit
    (the generic rtx and rtx-top checks compare the FIN counts)"""
    if "client" not in flows:
        return
    r, local, _ = flows["client"]
    data = repeats(pkts, lambda q: q["src"] == local and not q["flags"] & (SYN | FIN) and q["len"] > 0,
                   copies)
    fins = repeats(pkts, lambda q: q["src"] == local and q["flags"] & FIN, copies)
    check("%s/client/data-retransmitted" % name,
          data >= 1 and "FIN_WAIT_1" in r.get("path", ""),
          "the client sent data again %d time(s) on the wire (want >= 1: the drop was lifted before an "
          "RTO?); path %s" % (data, r.get("path")))
    print("# %s: client data segments sent again %d, FINs sent again %d, synfin retransmits.fin %s" % (
        name, data, fins, (r.get("retransmits") or {}).get("fin", 0)))


def sc_three_way(name, flows, pkts, a, copies, recs):
    for end, (r, _, _) in sorted(flows.items()):
        g = r.get("segments") or {}
        f4, f6 = td(r, 4), td(r, 6)
        want_closer = "local" if end == "client" else "peer"
        check("%s/%s/three-way" % (name, end),
              r.get("close") == "normal" and r.get("closer") == want_closer and
              g.get("close") == "three_way" and teardown_ns(r) == [4, 6, 7] and
              g.get("first_fin") == want_closer, brief(r))
        # 6 acknowledges 4: its ack is the FIN's sequence + 1 (+ payload)
        fin4 = [q for q in pkts if f4 and q["flags"] & FIN and q["seq"] == f4["seq"]]
        check("%s/%s/three-way-6-acks-4" % (name, end),
              f4 and f6 and fin4 and f6["flags"].find("A") >= 0 and
              f6["ack"] == seq_end(fin4[0]),
              "4=%s 6=%s, FIN 4 on the wire ends at %s" % (
                  f4, f6, seq_end(fin4[0]) if fin4 else None))


def sc_half_close(name, flows, pkts, a, copies, recs):
    if "client" in flows:
        r = flows["client"][0]
        d = r.get("durations_us") or {}
        check("%s/client/half-close" % name,
              "ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT" in r.get("path", "") and
              r.get("closer") == "local" and (r.get("segments") or {}).get("first_fin") == "local" and
              d.get("fin_wait_2", 0) >= a.hold_us,
              "%s fin_wait_2=%s us (want >= %d)" % (brief(r), d.get("fin_wait_2"), a.hold_us))
    if "server" in flows:
        r = flows["server"][0]
        d = r.get("durations_us") or {}
        check("%s/server/close-wait-dwell" % name,
              "CLOSE_WAIT>LAST_ACK" in r.get("path", "") and r.get("closer") == "peer" and
              (r.get("segments") or {}).get("first_fin") == "peer" and
              d.get("close_wait", 0) >= a.hold_us,
              "%s close_wait=%s us (want >= %d)" % (brief(r), d.get("close_wait"), a.hold_us))
    for end, (r, _, _) in sorted(flows.items()):
        g = r.get("segments") or {}
        f4, f6 = td(r, 4), td(r, 6)
        # the server's data after the client's FIN: 6 is that far beyond
        # what 4 acknowledged
        check("%s/%s/teardown" % (name, end),
              teardown_ns(r) == [4, 5, 6, 7] and g.get("close") == "four_way" and
              f4 is not None and f6 is not None and
              (f6["seq"] - f4["ack"]) % 2**32 == a.send_after_fin,
              "%s; 6.seq - 4.ack = %s, the server sent %d bytes after the FIN" % (
                  brief(r), (f6["seq"] - f4["ack"]) % 2**32 if f4 and f6 else None,
                  a.send_after_fin))


def sc_synack(name, flows, pkts, a, copies, recs):
    if "server" in flows:
        r = flows["server"][0]
        g = r.get("segments") or {}
        hs = {e.get("n"): e.get("dir") for e in g.get("handshake", [])}
        check("%s/server/synack-retransmits" % name,
              (g.get("retransmits") or {}).get("synack", 0) >= 1 and
              hs == {1: "in", 2: "out", 3: "in"} and r.get("established") is True,
              "%s handshake=%s" % (brief(r), hs))
    wire = repeats(pkts, lambda q: q["flags"] & (SYN | ACK) == SYN | ACK, copies)
    stops = [r for r in recs if r.get("type") == "listen" and r.get("event") == "stop" and
             r["local"]["port"] == a.listen_port]
    check("%s/listen/synack-retransmits" % name,
          len(stops) == 1 and stops[0].get("synack_retransmits", 0) >= 1 and
          stops[0].get("synack_retransmits") == wire,
          "listen stop records for port %s: %s; SYN-ACK repeated %d times on the wire" % (
              a.listen_port, [s.get("synack_retransmits") for s in stops], wire))


def sc_reset(name, flows, pkts, a, copies, recs):
    for end, (r, _, _) in sorted(flows.items()):
        rs = (r.get("segments") or {}).get("reset") or [{}]
        want_dir = "out" if end == "client" else "in"
        check("%s/%s/reset" % (name, end),
              r.get("close") == "reset" and rs[0].get("dir") == want_dir and
              "R" in rs[0].get("flags", ""),
              "close=%s reset=%s (want dir %s, flags with R)" % (r.get("close"), rs, want_dir))


def sc_refused(name, flows, pkts, a, copies, recs):
    if "client" in flows:
        r = flows["client"][0]
        rs = (r.get("segments") or {}).get("reset") or [{}]
        check("%s/client/refused" % name,
              r.get("close") == "refused" and rs[0].get("dir") == "in" and
              "R" in rs[0].get("flags", ""),
              "close=%s reset=%s (want dir in, flags with R)" % (r.get("close"), rs))


def sc_plain(name, flows, pkts, a, copies, recs):
    """an ordinary connection (test_containers.sh): the common checks only"""


SCENARIOS = {
    "plain": sc_plain,
    "simultaneous": sc_simultaneous,
    "three-way": sc_three_way,
    "data-fin": sc_data_fin,
    "half-close": sc_half_close,
    "synack": sc_synack,
    "reset": sc_reset,
    "refused": sc_refused,
}

if __name__ == "__main__":
    main()
    sys.exit(1 if failures else 0)
