#!/usr/bin/env python3
"""Sockets born around synfin's start-up (tests/kernel/test_startup.sh).

Every TICK seconds: one more listener (127.0.0.1, ports from BASE + 1) and
one more connection to the listener on BASE, all held open. Runs until the
file GO exists, then AFTER seconds more; prints "done N listeners, M
connections" and waits for the file CLOSE; then closes the clients first
(the servers' children see the FIN: CLOSE_WAIT, then close), then the
listeners, and exits.
"""
import os
import socket
import sys
import time

BASE, GO, CLOSE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
TICK, AFTER, LIMIT = 0.01, 1.0, 60.0

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", BASE))
srv.listen(4096)
srv.setblocking(False)
listeners, clients, children = [], [], []
print("started", flush=True)
t0 = time.monotonic()
until = None
while until is None or time.monotonic() < until:
    if until is None and os.path.exists(GO):
        until = time.monotonic() + AFTER
    if time.monotonic() - t0 > LIMIT:
        print("synfin never started", flush=True)
        sys.exit(1)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", BASE + 1 + len(listeners)))
    ls.listen(8)
    listeners.append(ls)
    c = socket.create_connection(("127.0.0.1", BASE))
    clients.append(c)
    try:
        while True:
            children.append(srv.accept()[0])
    except BlockingIOError:
        pass
    time.sleep(TICK)
srv.setblocking(True)
while len(children) < len(clients):
    children.append(srv.accept()[0])
print(f"done {len(listeners)} listeners, {len(clients)} connections", flush=True)
while not os.path.exists(CLOSE):
    time.sleep(0.05)
for c in clients:
    c.close()
time.sleep(0.2)
for c in children:
    c.close()
for ls in listeners + [srv]:
    ls.close()
print("closed", flush=True)
