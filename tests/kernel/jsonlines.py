"""jsonlines.load(PATH, CHECK): a test's JSON Lines output, every line
parsed; prints "PASS CHECK", or "FAIL CHECK: ..." at the first line that is
not JSON and exits (the test's other checks would prove nothing)."""
import json
import sys


def load(path, check):
    recs = []
    for i, line in enumerate(open(path, encoding="utf-8", errors="replace").read().splitlines()):
        try:
            recs.append(json.loads(line))
        except ValueError:
            print(f"FAIL {check}: line {i + 1} is not JSON: {line[:120]!r}")
            sys.exit(0)
    print(f"PASS {check}")
    return recs
