#!/usr/bin/env bash
# Replay tests (no root): recorded real event streams fed through
# `synfin --replay`, compared with reviewed expected output, and the
# derived nasty streams (reordered, duplicated) checked to rebuild the same
# flows as the original recording.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$TOP/tests/replay"

for rec in *.rec; do
	name=${rec%.rec}
	"$SYNFIN" --replay "$rec" >"$TMP/$name.jsonl" 2>"$TMP/$name.err"
	rc=$?
	want_rc=0
	[ -s "$name.expected.err" ] && want_rc=1
	if [ "$rc" -ne "$want_rc" ]; then
		fail "replay-$name" "exit $rc, expected $want_rc: $(head -c 300 "$TMP/$name.err")"
	elif ! diff -q "$name.expected.jsonl" "$TMP/$name.jsonl" >/dev/null; then
		fail "replay-$name" "output differs: $(diff "$name.expected.jsonl" "$TMP/$name.jsonl" | head -n 4 | cut -c1-200 | tr '\n' ' ')"
	elif ! diff -q "$name.expected.err" "$TMP/$name.err" >/dev/null; then
		fail "replay-$name" "stderr differs: $(cat "$TMP/$name.err")"
	else
		pass "replay-$name"
	fi
done

# the same traffic, delivered out of order or twice, is the same traffic
check replay-nasty-streams-rebuild-the-same-flows python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
def flows(name):
    return {r["id"]: r for r in map(json.loads, open(f"{tmp}/{name}.jsonl")) if r["type"] == "flow"}
base = flows("lifecycle")
assert len(base) == 9, f"lifecycle has {len(base)} flows, want 9"
assert not any(r["partial"] for r in base.values()), "a real recording gave a partial flow"
for name, anomaly in (("reordered", "reordered"), ("duplicated", "duplicates")):
    got = flows(name)
    assert got.keys() == base.keys(), f"{name}: flow ids differ"
    seen = 0
    for k, r in got.items():
        seen += bool(r.get("anomalies", {}).get(anomaly))
        r.pop("anomalies", None)
        b = dict(base[k]); b.pop("anomalies", None)
        assert r == b, f"{name}: flow {k} differs:\n{r}\n{b}"
    assert seen, f"{name}: no flow reports the {anomaly} anomaly"
PY
