#!/usr/bin/env python3
"""Check the run command's stdout from inside a PID namespace
(tests/fresh/inside-pidns.sh): nothing but JSON records, and the sockets of
peer.py attributed to it with the container's pid, the host's beside.

usage: check_run.py --out STDOUT --info PEER_INFO --port P --port2 P2

One line per check: "PASS fresh/pidns/NAME" or "FAIL fresh/pidns/NAME: why".
Exit status 1 if any failed.
"""

import argparse
import json
import sys

failed = False


def report(name, problems):
    global failed
    if problems:
        failed = True
        print("FAIL fresh/pidns/%s: %s" % (name, "; ".join(problems[:4])))
    else:
        print("PASS fresh/pidns/%s" % name)


def owner_problems(what, rec, pid, host, sources, want_host):
    p = rec.get("process") or {}
    probs = []
    # a summary record (a normal flow's, by default) leaves out the role's
    # usual source: connect for a client, accept for a server
    usual = {"client": "connect", "server": "accept"}.get(rec.get("role"))
    source = p.get("source", usual if "tid" not in p else None)
    if source not in sources:
        probs.append("%s: process.source %r, want one of %s" % (what, source, sources))
    # tid is in full records only (a normal flow is written as a summary)
    if p.get("pid") != pid or p.get("tid", pid) != pid:
        probs.append("%s: process.pid/tid %r/%r, want %d (the container's)" %
                     (what, p.get("pid"), p.get("tid"), pid))
    want = host if want_host and host != pid else None
    if p.get("host_pid") != want:
        probs.append("%s: process.host_pid %r, want %r" % (what, p.get("host_pid"), want))
    return probs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--info", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--port2", type=int, required=True)
    a = ap.parse_args()

    info = dict(kv.split("=") for kv in open(a.info).read().split())
    pid, host = int(info["pid"]), int(info["host_pid"])

    recs, bad = [], []
    with open(a.out, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                r = json.loads(raw.decode("utf-8"))
                if not isinstance(r, dict) or "type" not in r:
                    raise ValueError("no type")
                recs.append(r)
            except ValueError as e:
                bad.append("line %d is no record (%s): %r" % (n, e, raw[:80]))
    if not recs:
        bad.append("no record at all")
    report("stdout-only-records", bad)
    report("host-pid-differs", [] if host != pid else
           ["host pid %d equals the container's: not in a PID namespace of its own?" % pid])

    def port(r, end):
        return (r.get(end) or {}).get("port")

    pre = [r for r in recs if r["type"] == "listen" and port(r, "local") == a.port]
    probs = [] if pre else ["no listen record for port %d" % a.port]
    for r in pre:
        if r.get("event") == "start" and r.get("pre_existing") is not True:
            probs.append("listen start: pre_existing %r" % r.get("pre_existing"))
        probs += owner_problems("listen " + str(r.get("event")), r, pid, host, ["snapshot"], False)
    report("snapshot-owner", probs)

    new = [r for r in recs if r["type"] == "listen" and port(r, "local") == a.port2]
    probs = [] if new else ["no listen record for port %d" % a.port2]
    for r in new:
        probs += owner_problems("listen " + str(r.get("event")), r, pid, host, ["listen"], True)
    report("listen-owner", probs)

    flows = [r for r in recs if r["type"] == "flow"]
    cli = [r for r in flows if port(r, "peer") == a.port and r.get("role") == "client"]
    srv = [r for r in flows if port(r, "local") == a.port and r.get("role") == "server"]
    probs = [] if len(cli) == 1 else ["%d client flow records to port %d, want 1" % (len(cli), a.port)]
    for r in cli:
        probs += owner_problems("client flow", r, pid, host, ["connect"], True)
    report("connect-owner", probs)
    probs = [] if len(srv) == 1 else ["%d server flow records on port %d, want 1" % (len(srv), a.port)]
    for r in srv:
        probs += owner_problems("server flow", r, pid, host, ["accept", "close"], True)
    report("accept-owner", probs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
