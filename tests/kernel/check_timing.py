#!/usr/bin/env python3
"""Every phase duration synfin reports, against the wire.

Reads synfin's flow records and, for each end, the packets captured on that
end's interface (tshark fields, see test_wire_timing.sh). For each flow of
the connection(s) named by --ports, it finds the segments that bound each
phase on the wire, as that end saw them, and compares:

  client   syn_sent, connect   SYN out -> SYN-ACK in
  server   syn_received,       SYN in -> the handshake's ACK in
           handshake
  both     established         end of the handshake -> first FIN (or RST)
  closer   fin_wait_1          our FIN out -> its ACK in (or the peer's FIN,
                               when they cross: CLOSING)
           closing             the peer's FIN in -> the ACK of ours in
           fin_wait_2          the ACK of our FIN in -> the peer's FIN in
           time_wait.entered   the peer's FIN in (the ACK of ours, after CLOSING)
  peer     close_wait          the peer's FIN in -> our FIN out
           last_ack            our FIN out -> its ACK in
  both     lifetime            first segment -> the end above

Prints PASS/FAIL lines; exit 1 on any failure, 3 when the wire shows that
the scenario did not happen (FINs that should cross did not).
"""
import argparse
import datetime
import json
import sys

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def load_pkts(path):
    pkts = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("|")
            if len(p) < 11 or not p[0]:
                continue
            pkts.append({
                "t": float(p[0]),
                "src": p[1] or p[2], "sport": int(p[3]),
                "dst": p[4] or p[5], "dport": int(p[6]),
                "seq": int(p[7]), "ack": int(p[8]),
                "flags": int(p[9], 16), "len": int(p[10] or 0),
            })
    return pkts


def seq_ge(a, b):
    """a >= b in 32-bit sequence space"""
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


def rfc3339(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()


class Wire:
    """The segments of one connection as one end saw them."""

    def __init__(self, pkts, lport, pport, dropped_fins=False, client_port=None, nth=0):
        self.p = [x for x in pkts if {x["sport"], x["dport"]} == {lport, pport}]
        for x in self.p:
            x["out"] = x["sport"] == lport
        if client_port is not None:
            # the tuple used again: the nth connection runs from its SYN
            # (a pure SYN from the client with a new sequence number) to
            # the next one's
            starts, isn = [], None
            for i, x in enumerate(self.p):
                if x["flags"] & SYN and not x["flags"] & ACK and x["sport"] == client_port and x["seq"] != isn:
                    starts.append(i)
                    isn = x["seq"]
            if nth < len(starts):
                end = starts[nth + 1] if nth + 1 < len(starts) else len(self.p)
                self.p = self.p[starts[nth]:end]
            elif nth:
                self.p = []
        if dropped_fins:
            # the capture sees a segment before the firewall drops it: of
            # the FINs that came in, only the last copy reached TCP
            keep = []
            for i, x in enumerate(self.p):
                if not x["out"] and x["flags"] & FIN and any(
                        not y["out"] and y["flags"] & FIN and y["seq"] == x["seq"] for y in self.p[i + 1:]):
                    continue
                keep.append(x)
            self.p = keep
        self.lport = lport

    def first(self, pred):
        return next((x for x in self.p if pred(x)), None)

    def analyse(self):
        s = {}
        s["syn"] = self.first(lambda x: x["flags"] & SYN and not x["flags"] & ACK)
        s["synack"] = self.first(lambda x: x["flags"] & SYN and x["flags"] & ACK)
        if s["synack"]:
            want = s["synack"]["seq"] + 1
            s["ack3"] = self.first(lambda x: not x["flags"] & (SYN | RST) and x["flags"] & ACK
                                   and x["out"] != s["synack"]["out"] and x["ack"] == want)
        s["rst"] = self.first(lambda x: x["flags"] & RST)
        fa = s["fin_a"] = self.first(lambda x: x["flags"] & FIN)
        if fa:
            end_a = fa["seq"] + fa["len"] + 1
            s["fin_b"] = self.first(lambda x: x["flags"] & FIN and x["out"] != fa["out"])
            s["ack_a"] = self.first(lambda x: x["out"] != fa["out"] and x["flags"] & ACK
                                    and seq_ge(x["ack"], end_a) and x["t"] >= fa["t"])
            fb = s["fin_b"]
            if fb:
                end_b = fb["seq"] + fb["len"] + 1
                s["ack_b"] = self.first(lambda x: x["out"] == fa["out"] and x["flags"] & ACK
                                        and seq_ge(x["ack"], end_b) and x["t"] >= fb["t"])
        return s


def expected(r, s, no_segments):
    """{key: (seconds, why)} the wire says r's durations must be."""
    e = {}
    role = r["role"]

    def span(key, a, b, why):
        if s.get(a) and s.get(b):
            e[key] = (s[b]["t"] - s[a]["t"], why)

    if role == "client":
        span("syn_sent", "syn", "synack", "SYN out -> SYN-ACK in")
        span("connect", "syn", "synack", "SYN out -> SYN-ACK in")
        est = "synack"
    elif no_segments:
        est = "ack3"  # the SYN is not seen: no half-open phase to report
    else:
        span("syn_received", "syn", "ack3", "SYN in -> ACK in")
        span("handshake", "syn", "ack3", "SYN in -> ACK in")
        est = "ack3"
    fa, fb, rst = s.get("fin_a"), s.get("fin_b"), s.get("rst")
    first_end = min([x for x in (fa, rst) if x], key=lambda x: x["t"], default=None)
    if first_end and s.get(est):
        e["established"] = (first_end["t"] - s[est]["t"], "handshake done -> first FIN/RST")
    if rst and (not fa or rst["t"] < fa["t"]):
        return e
    if not fa:
        return e
    ack_a, ack_b = s.get("ack_a"), s.get("ack_b")
    if fa["out"]:
        crossed = fb and ack_a and fb["t"] < ack_a["t"]
        if crossed:
            span("fin_wait_1", "fin_a", "fin_b", "our FIN out -> the peer's FIN in (crossed)")
            span("closing", "fin_b", "ack_a", "the peer's FIN in -> the ACK of ours in")
            end = ack_a
        else:
            span("fin_wait_1", "fin_a", "ack_a", "our FIN out -> its ACK in")
            if fb and not fb["out"]:
                span("fin_wait_2", "ack_a", "fin_b", "its ACK in -> the peer's FIN in")
            end = fb
        if end:
            e["time_wait.entered"] = (end["t"], "TIME_WAIT begins")
    else:
        span("close_wait", "fin_a", "fin_b", "the peer's FIN in -> our FIN out")
        span("last_ack", "fin_b", "ack_b", "our FIN out -> its ACK in")
        end = ack_b
    start = s.get("syn")
    if start and end:
        e["lifetime"] = (end["t"] - start["t"], "first segment -> TIME_WAIT / CLOSED")
    return e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--client-pkts", required=True)
    ap.add_argument("--server-pkts", required=True)
    ap.add_argument("--ports", required=True, help="CLIENT_PORT:SERVER_PORT[,...]")
    ap.add_argument("--tol-ms", type=float, default=3.0)
    ap.add_argument("--crossed", action="store_true",
                    help="the FINs must have crossed (the test dropped their first copies on input)")
    ap.add_argument("--no-segments", type=float, default=0,
                    help="synfin ran without segments, reconciling every N s: FIN_WAIT_2's end "
                         "and TIME_WAIT's entry come from its rounds (at most N s + 0.5 late)")
    a = ap.parse_args()

    recs = [json.loads(l) for l in open(a.jsonl) if l.strip()]
    flows = [r for r in recs if r.get("type") == "flow"]
    pk = {"client": load_pkts(a.client_pkts), "server": load_pkts(a.server_pkts)}
    failed = False
    status = 0

    def ok(name):
        print(f"PASS {a.name}/{name}")

    def bad(name, why):
        nonlocal failed
        failed = True
        print(f"FAIL {a.name}/{name}: {why}")

    nth = {}
    for pair in a.ports.split(","):
        cp, sp = (int(x) for x in pair.split(":"))
        # a pair named again is the same tuple used again: its nth
        # connection on the wire against its nth record (by start)
        k = nth[pair] = nth.get(pair, -1) + 1
        for role, lp, pp in (("client", cp, sp), ("server", sp, cp)):
            tag = f"{role}:{lp}" + (f"#{k + 1}" if k else "")
            mine = [x for x in flows if x["local"]["port"] == lp and x["peer"]["port"] == pp]
            if len(mine) > 1 and any(not x.get("start") for x in mine):
                bad(f"{tag}/record", "records of a reused tuple without a start to order them by")
                continue
            mine.sort(key=lambda x: rfc3339(x["start"]) if len(mine) > 1 else 0)
            r = mine[k] if k < len(mine) else None
            if not r:
                bad(f"{tag}/record", f"no flow record ({len(mine)} of this tuple)")
                continue
            s = Wire(pk[role], lp, pp, a.crossed, cp, k).analyse()
            if a.crossed and role == "client":
                fa, fb, ack_a = s.get("fin_a"), s.get("fin_b"), s.get("ack_a")
                if not (fa and fb and ack_a and fb["t"] < ack_a["t"]):
                    print(f"SKIP {a.name}/crossed: the FINs did not cross on the wire")
                    status = 3
            exp = expected(r, s, a.no_segments)
            if not exp:
                bad(f"{tag}/wire", "no phase found on the wire")
            dur = r.get("durations_us", {})
            src = r.get("durations_from", {})
            tw = r.get("time_wait") or {}
            for key, (want, why) in sorted(exp.items()):
                if key == "time_wait.entered":
                    got_s = tw.get("entered")
                    if not got_s:
                        bad(f"{tag}/{key}", f"none in the record; the wire: {why} at {want:.6f}")
                        continue
                    got, want_v, unit = rfc3339(got_s), want, "s"
                    where = tw.get("entered_from")
                else:
                    if key not in dur:
                        bad(f"{tag}/{key}", f"missing from durations_us {dur}; the wire: {want * 1e6:.0f} us ({why})")
                        continue
                    got, want_v, unit = dur[key] / 1e6, want, "us"
                    where = src.get(key, "state_event")
                diff = got - want_v
                tol = a.tol_ms / 1e3
                late_ok = 0.0
                if a.no_segments and where == "reconcile":
                    late_ok = a.no_segments + 0.5
                if where == "segments" and a.no_segments:
                    bad(f"{tag}/{key}", "says 'segments' although none were captured")
                    continue
                shown = f"{got * 1e6:.0f} us" if unit == "us" else got_s
                if -tol <= diff <= tol + late_ok:
                    ok(f"{tag}/{key}")
                else:
                    bad(f"{tag}/{key}", f"synfin {shown} ({where}), the wire {want_v * 1e6:.0f} us: "
                                        f"{why}; off by {diff * 1e3:+.3f} ms")
            if a.no_segments and role == "server":
                if "syn_received" in dur or "handshake" in dur:
                    bad(f"{tag}/no-syn", f"a half-open phase without the SYN seen: {dur}")
                else:
                    ok(f"{tag}/no-syn")
            if a.no_segments and role == "server" and r["path"].endswith("FIN_WAIT_2>TIME_WAIT"):
                # the hand-over must never pass for the end of FIN_WAIT_2
                if src.get("fin_wait_2") != "reconcile" or tw.get("entered_from") != "reconcile":
                    bad(f"{tag}/inferred", f"FIN_WAIT_2's end not marked as from the rounds: {src} {tw}")
                else:
                    ok(f"{tag}/inferred")
    if failed:
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
