#!/usr/bin/env python3
"""sockclient.py PATH OUT [GO_FILE]: a client of synfin's live socket.
Connects, writes 'connected' to OUT.state; with GO_FILE, reads nothing
until GO_FILE exists (a stopped viewer), then reads everything until the
daemon closes the connection, 2 s pass without a byte, or 4 s in all; OUT gets what
was read. Exit 1 if it could not connect."""
import os
import socket
import sys
import time

path, out = sys.argv[1], sys.argv[2]
go = sys.argv[3] if len(sys.argv) > 3 else None
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(path)
except OSError as e:
    print(f"connect {path}: {e}", file=sys.stderr)
    sys.exit(1)
with open(out + ".state", "w") as f:
    f.write("connected\n")
if go:
    deadline = time.monotonic() + 120
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
s.settimeout(2)
end = time.monotonic() + 4
with open(out, "wb") as f:
    while time.monotonic() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        f.write(b)
        f.flush()
with open(out + ".state", "a") as f:
    f.write("done\n")
