#!/usr/bin/env python3
"""jsonwait.py FILE TIMEOUT_S EXPR: wait until a JSON line of FILE (still
being written) satisfies the Python expression EXPR over the record `r`;
print that record and exit 0, or exit 1 at the timeout. Every complete
line must be valid JSON (exit 2 otherwise)."""
import json
import sys
import time

path, timeout, expr = sys.argv[1], float(sys.argv[2]), sys.argv[3]
pred = eval("lambda r: " + expr)
deadline = time.monotonic() + timeout
while True:
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        text = ""
    for line in text.split("\n")[:-1]:
        try:
            r = json.loads(line)
        except ValueError as e:
            print(f"invalid JSON line: {e}: {line[:200]}", file=sys.stderr)
            sys.exit(2)
        try:
            ok = pred(r)
        except (KeyError, TypeError):
            ok = False
        if ok:
            print(json.dumps(r))
            sys.exit(0)
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.1)
