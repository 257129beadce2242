#!/usr/bin/env python3
"""A process whose sockets synfin must attribute to it, with the pids the
container shows (tests/fresh/inside-pidns.sh).

usage: peer.py --port P --port2 P2 --info FILE --go FILE

Listens on 127.0.0.1:P at once (a socket that exists before synfin starts:
its owner comes from /proc), writes "pid=L host_pid=H" to FILE, waits (300 s
at most: the run command builds first) for the file --go, then listens on P2 (a listen() synfin sees),
connects to P, accepts, sends one byte, closes the client end first, then
the accepted one, and exits. H is found through the host's /proc, bound
read-only at /run/host-proc: the entry whose innermost NSpid is our pid in
our own PID namespace.
"""

import argparse
import os
import socket
import sys
import time


def host_pid(host_proc="/run/host-proc"):
    me = os.getpid()
    ours = os.readlink("/proc/self/ns/pid")
    for d in os.listdir(host_proc):
        if not d.isdigit():
            continue
        try:
            with open(os.path.join(host_proc, d, "status")) as f:
                nspid = [ln.split()[1:] for ln in f if ln.startswith("NSpid:")]
            if (nspid and len(nspid[0]) >= 2 and int(nspid[0][-1]) == me and
                    os.readlink(os.path.join(host_proc, d, "ns/pid")) == ours):
                return int(d)
        except (OSError, ValueError):
            continue
    sys.exit("peer: not found in %s" % host_proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--port2", type=int, required=True)
    ap.add_argument("--info", required=True)
    ap.add_argument("--go", required=True)
    a = ap.parse_args()

    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", a.port))
    lst.listen()
    with open(a.info + ".tmp", "w") as f:
        f.write("pid=%d host_pid=%d\n" % (os.getpid(), host_pid()))
    os.rename(a.info + ".tmp", a.info)

    deadline = time.monotonic() + 300
    while not os.path.exists(a.go):
        if time.monotonic() > deadline:
            sys.exit("peer: no go in 300 s")
        time.sleep(0.05)

    lst2 = socket.socket()
    lst2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst2.bind(("127.0.0.1", a.port2))
    lst2.listen()
    cli = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    srv, _ = lst.accept()
    cli.sendall(b"x")
    srv.recv(1)
    cli.close()
    srv.recv(1)  # EOF: the client's FIN is in
    srv.close()
    lst2.close()
    lst.close()


if __name__ == "__main__":
    main()
