#!/usr/bin/env python3
"""Check synfin's JSON Lines against the connections tcpctl made.

usage: check_flows.py --jsonl OUT --tcpctl TCPCTL_STDOUT --name NAME [checks]

tcpctl prints one line per connection:
  conn scenario=S n=N family=F client=ADDR:PORT server=ADDR:PORT client_pid=P result=R
Each connection is matched to synfin's flow records by its 4-tuple: the
client flow has local = client and peer = server, the server flow the
reverse. Every check below is one assertion group and prints one line,
"PASS NAME/GROUP" or "FAIL NAME/GROUP: why". Exit status 1 if any failed.

Checks (repeatable where it makes sense):
  --scenario S       only the connections of tcpctl scenario S
  --client EXPR      field check on every client flow, e.g. close=normal,
  --server EXPR        time_wait.inferred=true, retransmits.syn>=1; the value
                     is JSON if it parses as JSON, else a string; operators
                     = != >= <=; a missing field compares as null
  --no-server        there must be no server flow (refused, timeout)
  --process          pid = client_pid, comm = --comm, network.type, addresses
                     and ports equal tcpctl's; source connect/accept
  --comm NAME        expected process.comm (default "tcpctl"; Python escapes
                     such as \\x01 and \\ufffd are decoded)
  --durations        durations_us consistency, start <= end, partial false
  --pause-us N       the passive closer's close_wait >= N
  --fin-span-us N    the active closer's FIN -> the peer's FIN (segments 4 -> 6) >= N
  --listen           one listen start and one stop record per server port,
                     stop.connections = number of connections made
  --absent           no flow record with any of these connections' port
                     pairs, no listen record for their server port
  --netns INODE      every flow/listen record in the file has this netns
  --expect-conns N   tcpctl must have reported N connections (default: >= 1)
  --tcpstates FILE   output of libbpf-tools "tcpstates -w" (repeatable): each
                     matched flow, the transitions tcpstates printed for that
                     socket equal those synfin's path implies, and the time
                     tcpstates gives for each state left matches synfin's
                     dwell (--dwell-tolerance-us, default 250, + 1%)
  --reference-incomplete WHY
                     tcpstates is known to have missed events (WHY): a
                     socket whose tcpstates transitions are a strict prefix
                     of synfin's gives SKIP, not FAIL
The file always gets a "jsonl" check: every line is UTF-8 JSON.
"""

import argparse
import json
import re
import sys
from datetime import datetime, timezone

failures = 0


def report(name, problems):
    global failures
    if problems:
        failures += 1
        print("FAIL %s: %s" % (name, "; ".join(problems[:4]) +
                               (" (+%d more)" % (len(problems) - 4)
                                if len(problems) > 4 else "")))
    else:
        print("PASS %s" % name)


def split_endpoint(s):
    """'127.0.0.1:80' or '[::1]:80' -> (address, port)"""
    addr, _, port = s.rpartition(":")
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    return addr, int(port)


def read_conns(path, scenario):
    conns = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("conn "):
                continue
            kv = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
            if scenario and kv.get("scenario") != scenario:
                continue
            c = {
                "scenario": kv["scenario"],
                "n": int(kv["n"]),
                "family": kv["family"],
                "pid": int(kv["client_pid"]),
                "result": kv["result"],
            }
            c["caddr"], c["cport"] = split_endpoint(kv["client"])
            c["saddr"], c["sport"] = split_endpoint(kv["server"])
            conns.append(c)
    return conns


def read_jsonl(path):
    """All records, and the problems found parsing them."""
    records, problems = [], []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        problems.append("last line has no newline")
    for i, raw in enumerate(data.split(b"\n")[:-1] if data else [], 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append("line %d: not UTF-8: %s" % (i, e))
            continue
        try:
            rec = json.loads(text)
        except ValueError as e:
            problems.append("line %d: not JSON: %s: %r" % (i, e, text[:80]))
            continue
        if not isinstance(rec, dict) or "type" not in rec:
            problems.append("line %d: not an object with a type" % i)
            continue
        records.append(rec)
    return records, problems


def get(rec, dotted):
    cur = rec
    for k in dotted.split("."):
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur


EXPR = re.compile(r"^([A-Za-z0-9_.]+)(>=|<=|!=|=)(.*)$", re.S)


def parse_expr(s):
    m = EXPR.match(s)
    if not m:
        raise SystemExit("check_flows: bad expression %r" % s)
    key, op, val = m.groups()
    try:
        val = json.loads(val)
    except ValueError:
        pass
    return key, op, val


def eval_expr(rec, expr):
    key, op, want = expr
    got = get(rec, key)
    if op == "=":
        ok = got == want and type(got) is type(want)
    elif op == "!=":
        ok = got != want
    else:
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return "%s is %s, not a number" % (key, json.dumps(got))
        ok = got >= want if op == ">=" else got <= want
    if ok:
        return None
    return "%s %s %s expected, got %s" % (key, op, json.dumps(want),
                                          json.dumps(got))


def flows_for(records, local, peer):
    return [r for r in records if r.get("type") == "flow" and
            get(r, "local.port") == local[1] and
            get(r, "peer.port") == peer[1] and
            get(r, "local.address") == local[0] and
            get(r, "peer.address") == peer[0]]


def parse_time(s):
    if not isinstance(s, str):
        raise ValueError("not a string: %r" % (s,))
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?Z", s)
    if not m:
        raise ValueError("not RFC 3339 UTC: %r" % s)
    t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=timezone.utc)
    frac = m.group(2) or ".0"
    return int(t.timestamp()) * 1000000 + int(frac[1:].ljust(6, "0")[:6])


SUMMARY_KEYS = {"connect", "handshake", "lifetime", "observed"}


def duration_problems(rec):
    p = []
    d = rec.get("durations_us")
    if not isinstance(d, dict) or not d:
        return ["no durations_us"]
    for k, v in d.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            p.append("durations_us.%s = %s" % (k, json.dumps(v)))
    if p:
        return p
    dwell = sum(v for k, v in d.items() if k not in SUMMARY_KEYS)
    life = d.get("lifetime")
    if life is None:
        p.append("no durations_us.lifetime")
    elif dwell > life:
        p.append("sum of state dwells %d > lifetime %d" % (dwell, life))
    for k in ("connect", "handshake"):
        if k in d and life is not None and d[k] > life:
            p.append("%s %d > lifetime %d" % (k, d[k], life))
    # every state on the path but the last has a dwell, and only those
    path = rec.get("path", "").split(">")
    names = {s.lower() for s in path[:-1]}
    extra = set(d) - SUMMARY_KEYS - names
    if extra:
        p.append("dwell for states not left on the path: %s" % sorted(extra))
    try:
        start, end = parse_time(rec.get("start")), parse_time(rec.get("end"))
        if start > end:
            p.append("start %s after end %s" % (rec["start"], rec["end"]))
        elif life is not None and abs((end - start) - life) > 2:
            p.append("end - start = %d us but lifetime %d" %
                     (end - start, life))
    except ValueError as e:
        p.append(str(e))
    if rec.get("partial") is not False:
        p.append("partial is %s" % json.dumps(rec.get("partial")))
    return p


# synfin state names -> tcpstates' (the kernel's tcp_state_names)
TS_NAMES = {"CLOSED": "CLOSE", "SYN_RECEIVED": "SYN_RECV",
            "FIN_WAIT_1": "FIN_WAIT1", "FIN_WAIT_2": "FIN_WAIT2"}


def read_tcpstates(paths):
    """Transitions printed by tcpstates, in the order printed.

    Fields are taken from the right, as COMM may contain blanks.
    """
    events = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                t = line.split()
                if t and ":" in t[0]:
                    t = t[1:]  # the -T time column
                if len(t) < 12 or t[-3] != "->" or not t[-7].isdigit() or \
                        not t[-5].isdigit() or not t[1].isdigit():
                    continue
                events.append({"sk": t[0], "pid": int(t[1]),
                               "laddr": t[-8], "lport": int(t[-7]),
                               "raddr": t[-6], "rport": int(t[-5]),
                               "old": t[-4], "new": t[-2],
                               "ms": float(t[-1]), "used": False})
    return events


def chain(evs):
    """Order one socket's transitions old -> new -> ...: tcpstates reads
    one perf buffer per CPU, so it may print them out of order."""
    news = {e["new"] for e in evs}
    heads = [e for e in evs if e["old"] not in news]
    if len(heads) != 1:
        return evs
    out, rest = [heads[0]], [e for e in evs if e is not heads[0]]
    while rest:
        nxt = [e for e in rest if e["old"] == out[-1]["new"]]
        if len(nxt) != 1:
            return evs
        out.append(nxt[0])
        rest.remove(nxt[0])
    return out


def expected_transitions(rec):
    path = rec.get("path", "").split(">")
    names = [TS_NAMES.get(s, s) for s in path]
    if get(rec, "time_wait.inferred") is True and path[-1] == "TIME_WAIT":
        # the hand-over to the time-wait socket is reported as CLOSE
        names[-1] = "CLOSE"
    return [(names[i], names[i + 1]) for i in range(len(names) - 1)], path


def tcpstates_problems(events, rec, local, peer, pid, tolerance,
                       incomplete=None):
    """Only lines with this socket's 4-tuple count, so unrelated traffic
    cannot interfere; the first transition of a client (CLOSE -> SYN_SENT)
    is printed before the local port is chosen, so it is recognised by
    socket address, peer and pid instead."""
    mine = [e for e in events if (e["laddr"], e["lport"], e["raddr"],
                                  e["rport"]) == local + peer]
    sks = {e["sk"] for e in mine}
    if rec.get("role") == "client":
        for e in events:
            if (not e["used"] and e["lport"] == 0 and e["sk"] in sks and
                    e["laddr"] == local[0] and
                    (e["raddr"], e["rport"]) == peer and
                    e["pid"] == pid and e["old"] == "CLOSE"):
                e["used"] = True
                mine.insert(0, e)
                break
    want, path = expected_transitions(rec)
    life = chain(mine)
    got = [(e["old"], e["new"]) for e in life]
    if got != want:
        msg = "tcpstates %s, synfin %s" % (
            " ".join("%s->%s" % x for x in got) or "nothing",
            " ".join("%s->%s" % x for x in want))
        if incomplete and got == want[:len(got)]:
            return [], [], ["%s: %s" % (incomplete, msg)]
        return [msg], [], []
    p = []
    d = rec.get("durations_us") or {}
    for i, e in enumerate(life):
        if i == 0:
            continue  # tcpstates has no time for the first state
        key = path[i].lower()
        ts_us = e["ms"] * 1000
        src = (rec.get("durations_from") or {}).get(key)
        if key not in d:
            p.append("no durations_us.%s" % key)
        elif key == "fin_wait_2" and src in ("segments", "reconcile"):
            # the socket was handed to a time-wait socket still in
            # FIN_WAIT_2: tcpstates sees the full socket's part only
            if d[key] + tolerance < ts_us:
                p.append("%s: synfin %d us (to the peer's FIN), below tcpstates' %.0f us "
                         "(to the hand-over)" % (key, d[key], ts_us))
        elif abs(d[key] - ts_us) > tolerance + ts_us / 100:
            p.append("%s: synfin %d us, tcpstates %.0f us" %
                     (key, d[key], ts_us))
    return [], p, []


def main():
    ap = argparse.ArgumentParser(add_help=True)
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--tcpctl", action="append", default=[])
    ap.add_argument("--name", required=True)
    ap.add_argument("--scenario")
    ap.add_argument("--client", action="append", default=[], type=parse_expr)
    ap.add_argument("--server", action="append", default=[], type=parse_expr)
    ap.add_argument("--no-server", action="store_true")
    ap.add_argument("--process", action="store_true")
    ap.add_argument("--comm", default="tcpctl")
    ap.add_argument("--durations", action="store_true")
    ap.add_argument("--pause-us", type=int)
    ap.add_argument("--fin-span-us", type=int)
    ap.add_argument("--segments", action="store_true")
    ap.add_argument("--listen", action="store_true")
    ap.add_argument("--absent", action="store_true")
    ap.add_argument("--netns", type=int)
    ap.add_argument("--expect-conns", type=int)
    ap.add_argument("--tcpstates", action="append", default=[])
    ap.add_argument("--dwell-tolerance-us", type=int, default=250)
    ap.add_argument("--reference-incomplete")
    a = ap.parse_args()
    comm = a.comm.encode("latin-1", "backslashreplace").decode(
        "unicode_escape")
    name = a.name

    records, problems = read_jsonl(a.jsonl)
    report(name + "/jsonl", problems)

    conns = []
    for t in a.tcpctl:
        conns += read_conns(t, a.scenario)
    p = []
    if a.expect_conns is not None and len(conns) != a.expect_conns:
        p.append("tcpctl reported %d connections, expected %d" %
                 (len(conns), a.expect_conns))
    elif not conns:
        p.append("tcpctl reported no connection")
    if a.tcpctl:
        report(name + "/tcpctl", p)
    if not conns and a.tcpctl:
        return

    if a.netns is not None:
        bad = [r for r in records if r.get("type") in ("flow", "listen") and
               r.get("netns") != a.netns]
        report(name + "/netns-scope",
               ["%s record in netns %s, port %s" %
                (r["type"], r.get("netns"), get(r, "local.port"))
                for r in bad])

    if a.absent:
        p = []
        for c in conns:
            pairs = {(c["cport"], c["sport"]), (c["sport"], c["cport"])}
            for r in records:
                if r.get("type") not in ("flow", "listen"):
                    continue
                lp, pp = get(r, "local.port"), get(r, "peer.port")
                if (lp, pp) in pairs or (r["type"] == "listen" and
                                         lp == c["sport"]):
                    p.append("%s record %s local port %s peer port %s" %
                             (r["type"], r.get("id"), lp, pp))
        report(name + "/absent", p)
        return 1 if failures else 0

    flows = {}     # (conn index, end) -> record
    p = []
    for i, c in enumerate(conns):
        cl = (c["caddr"], c["cport"])
        sv = (c["saddr"], c["sport"])
        for end, local, peer in (("client", cl, sv), ("server", sv, cl)):
            found = flows_for(records, local, peer)
            if end == "server" and a.no_server:
                if found:
                    p.append("unexpected server flow for %s:%d" % cl)
                continue
            if len(found) != 1:
                p.append("%d %s flows for %s:%d -> %s:%d, expected 1" %
                         ((len(found), end) + cl + sv))
                continue
            flows[(i, end)] = found[0]
    report(name + "/matched", p)

    for end, exprs in (("client", a.client), ("server", a.server)):
        if not exprs:
            continue
        p = []
        for (i, e), r in sorted(flows.items()):
            if e != end:
                continue
            for x in exprs:
                msg = eval_expr(r, x)
                if msg:
                    p.append("n=%d: %s" % (conns[i]["n"], msg))
        report("%s/%s-fields" % (name, end), p)

    if a.process:
        for end in ("client", "server"):
            p = []
            for (i, e), r in sorted(flows.items()):
                if e != end:
                    continue
                c = conns[i]
                want = {
                    "process.pid": c["pid"],
                    "process.comm": comm,
                    "process.source": "connect" if end == "client"
                    else "accept",
                    "network.type": c["family"],
                    "network.transport": "tcp",
                    "local.address": c["caddr"] if end == "client"
                    else c["saddr"],
                    "local.port": c["cport"] if end == "client"
                    else c["sport"],
                    "peer.address": c["saddr"] if end == "client"
                    else c["caddr"],
                    "peer.port": c["sport"] if end == "client"
                    else c["cport"],
                    "role": end,
                }
                for k, v in want.items():
                    msg = eval_expr(r, (k, "=", v))
                    if msg:
                        p.append("n=%d: %s" % (c["n"], msg))
            if any(e == end for _, e in flows):
                report("%s/%s-process" % (name, end), p)

    if a.durations:
        for end in ("client", "server"):
            p = []
            for (i, e), r in sorted(flows.items()):
                if e == end:
                    p += ["n=%d: %s" % (conns[i]["n"], m)
                          for m in duration_problems(r)]
            if any(e == end for _, e in flows):
                report("%s/%s-durations" % (name, end), p)

    if a.segments:
        # the seed's numbering, seen from each end: who sent what, and each
        # answer acknowledging the sequence + 1
        ps = []
        for (i, e), r in sorted(flows.items()):
            g = r.get("segments")
            n = conns[i]["n"]
            if not g:
                ps.append("n=%d %s: no segments" % (n, e))
                continue
            hs = {x["n"]: x for x in g.get("handshake", [])}
            td = {x["n"]: x for x in g.get("teardown", [])}
            mine = "out" if e == "client" else "in"
            theirs = "in" if e == "client" else "out"
            want = {1: mine, 2: theirs}
            if 3 in hs:
                want[3] = mine
            for k, d in want.items():
                if hs.get(k, {}).get("dir") != d:
                    ps.append("n=%d %s: handshake %d %s, want dir %s" % (n, e, k, hs.get(k), d))
            if r.get("close") == "normal":
                first = g.get("first_fin")
                if first != ("local" if r.get("closer") == "local" else "peer"):
                    ps.append("n=%d %s: first_fin %s but closer %s" % (n, e, first, r.get("closer")))
                for k in (4, 5, 6, 7):
                    if k not in td and not (k == 5 and g.get("close") == "three_way"):
                        ps.append("n=%d %s: teardown segment %d missing: %s" % (n, e, k, sorted(td)))
            for x in list(hs.values()) + list(td.values()):
                if x.get("acks_ok") is False:
                    ps.append("n=%d %s: segment %d does not ack seq+1: %s" % (n, e, x["n"], x))
        report(name + "/segments", ps)

    if a.pause_us is not None or a.fin_span_us is not None:
        pp, pf = [], []
        for (i, e), r in sorted(flows.items()):
            d = r.get("durations_us") or {}
            closer = r.get("closer")
            n = conns[i]["n"]
            if closer == "peer":
                cw = d.get("close_wait")
                if a.pause_us is not None and (cw is None or
                                               cw < a.pause_us):
                    pp.append("n=%d %s: close_wait %s < %d" %
                              (n, e, cw, a.pause_us))
            elif closer == "local":
                # Linux hands the socket to a time-wait socket as soon as
                # it reaches FIN_WAIT2: the state events cannot show the
                # wait for the peer's FIN; segments 4 -> 6 do
                span = get(r, "segments.durations_us.fin_to_fin")
                if a.fin_span_us is not None and (span is None or span < a.fin_span_us):
                    pf.append("n=%d %s: segments 4 -> 6 (our FIN -> peer FIN) %s us < %d" %
                              (n, e, span, a.fin_span_us))
            else:
                (pp if a.pause_us is not None else pf).append(
                    "n=%d %s: closer %s" % (n, e, json.dumps(closer)))
        if a.pause_us is not None:
            report(name + "/passive-close-wait", pp)
        if a.fin_span_us is not None:
            report(name + "/active-fin-wait-span", pf)

    if a.tcpstates:
        events = read_tcpstates(a.tcpstates)
        for end in ("client", "server"):
            pt, pd, ps = [], [], []
            for (i, e), r in sorted(flows.items()):
                if e != end:
                    continue
                c = conns[i]
                cl, sv = (c["caddr"], c["cport"]), (c["saddr"], c["sport"])
                local, peer = (cl, sv) if end == "client" else (sv, cl)
                t, d, sk = tcpstates_problems(events, r, local, peer,
                                              c["pid"], a.dwell_tolerance_us,
                                              a.reference_incomplete)
                tag = "%s n=%d: " % (c["scenario"], c["n"])
                pt += [tag + m for m in t]
                pd += [tag + m for m in d]
                ps += [tag + m for m in sk]
            if any(e == end for _, e in flows):
                if ps and not pt:
                    print("SKIP %s/%s-transitions: %s" %
                          (name, end, "; ".join(ps[:3])))
                else:
                    report("%s/%s-transitions" % (name, end), pt)
                report("%s/%s-dwell" % (name, end), pd)

    if a.listen:
        p = []
        by_port = {}
        for c in conns:
            by_port.setdefault((c["saddr"], c["sport"]), []).append(c)
        for (addr, port), cs in sorted(by_port.items()):
            ls = [r for r in records if r.get("type") == "listen" and
                  get(r, "local.port") == port and
                  get(r, "local.address") == addr]
            starts = [r for r in ls if r.get("event") == "start"]
            stops = [r for r in ls if r.get("event") == "stop"]
            if len(starts) != 1 or len(stops) != 1:
                p.append("port %d: %d start and %d stop records" %
                         (port, len(starts), len(stops)))
                continue
            st = stops[0]
            if st.get("connections") != len(cs):
                p.append("port %d: connections %s, made %d" %
                         (port, json.dumps(st.get("connections")), len(cs)))
            for r in (starts[0], st):
                if get(r, "process.pid") != cs[0]["pid"]:
                    p.append("port %d %s: process.pid %s, want %d" %
                             (port, r["event"], get(r, "process.pid"),
                              cs[0]["pid"]))
                if get(r, "process.comm") != comm:
                    p.append("port %d %s: process.comm %s" %
                             (port, r["event"],
                              json.dumps(get(r, "process.comm"))))
                if get(r, "network.type") != cs[0]["family"]:
                    p.append("port %d: network.type %s" %
                             (port, get(r, "network.type")))
            if starts[0].get("id") != st.get("id"):
                p.append("port %d: start id %s != stop id %s" %
                         (port, starts[0].get("id"), st.get("id")))
            if st.get("partial") is not False:
                p.append("port %d: stop partial %s" %
                         (port, json.dumps(st.get("partial"))))
            try:
                if parse_time(starts[0]["time"]) > parse_time(st["time"]):
                    p.append("port %d: stop before start" % port)
            except (ValueError, KeyError) as e:
                p.append("port %d: %s" % (port, e))
        report(name + "/listen", p)
    return 1 if failures else 0


if __name__ == "__main__":
    rc = main()
    sys.exit(1 if failures else (rc or 0))
