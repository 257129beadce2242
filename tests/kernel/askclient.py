#!/usr/bin/env python3
"""askclient.py PATH REQUEST...: writes each REQUEST (one line each) on one
connection to synfin's live socket, and prints the answers (the `reply` and
`error` lines, in order) as the daemon sent them, skipping the greeting and
the live records. Exit 1 if fewer answers than requests came in 3 s."""
import json
import socket
import sys
import time

path, reqs = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.sendall("".join(r + "\n" for r in reqs).encode())
s.settimeout(0.5)
buf, got, end = b"", 0, time.monotonic() + 3
while got < len(reqs) and time.monotonic() < end:
    try:
        b = s.recv(65536)
    except socket.timeout:
        continue
    if not b:
        break
    buf += b
    *lines, buf = buf.split(b"\n")
    for line in lines:
        if json.loads(line).get("type") in ("reply", "error"):
            print(line.decode())
            got += 1
sys.exit(0 if got == len(reqs) else 1)
