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
	"$SYNFIN" --replay "$rec" --detail segments --summary-interval 0 >"$TMP/$name.jsonl" 2>"$TMP/$name.err"
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

# event version 3: each server child's birth folded into its next record
# (one ring record less per connection), the same records byte for byte
check replay-folded-births-rebuild-the-same-records python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
def load(name):
    return [json.loads(l) for l in open(f"{tmp}/{name}.jsonl")]
base, got = load("lifecycle"), load("folded")
children = sum(r["type"] == "flow" and r["role"] == "server" for r in base)
assert children == 4, f"lifecycle has {children} server children, want 4"
b_stats, g_stats = base.pop(), got.pop()
assert got == base, "folded: the records differ"
assert g_stats["events"]["received"] == b_stats["events"]["received"] - children, (g_stats["events"], b_stats["events"])
PY

# the default detail: normal flows as a summary (<= 600 bytes for IPv4),
# the others in full; the same flows either way
"$SYNFIN" --replay lifecycle.rec >"$TMP/default.jsonl" 2>/dev/null
check replay-default-detail python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
full = {r["id"]: r for r in map(json.loads, open(f"{tmp}/lifecycle.jsonl")) if r["type"] == "flow"}
lines = [l for l in open(f"{tmp}/default.jsonl") if '"type":"flow"' in l]
got = {}
for l in lines:
    r = json.loads(l)
    got[r["id"]] = (r, len(l) - 1)
assert got.keys() == full.keys(), "default mode lost or added flows"
summaries = 0
for k, (r, size) in got.items():
    f = full[k]
    for key in ("path", "close", "closer", "durations_us", "process", "role"):
        if key == "durations_us" and "digest" in r.get("segments", {}):
            # a summary says the handshake once: as connect or syn_received
            hs = f[key].pop("handshake", None)
            assert hs in (f[key].get("connect"), f[key].get("syn_received"), r[key].pop("handshake", hs)), k
        assert r[key] == f[key] or key == "process", f"{k}: {key} differs"
    normal = f["close"] in ("normal", "simultaneous") and not f["partial"]
    if normal:
        summaries += 1
        assert "digest" in r["segments"], f"{k}: a normal flow in full"
        assert r["segments"]["acks_ok"] is True
        if f["network"]["type"] == "ipv4":
            assert size <= 600, f"{k}: {size} bytes"
        # the digest names each listed segment, in order
        n = sum(len(f["segments"][p]) for p in ("handshake", "teardown"))
        assert len(r["segments"]["digest"].replace("| ", "").split()) == n, r["segments"]["digest"]
    else:
        assert r == f, f"{k}: an abnormal flow not in full"
assert summaries >= 6, f"only {summaries} summarized"
PY

# --flows and --sample leave records out, counted; summaries count them all
"$SYNFIN" --replay lifecycle.rec --flows abnormal >"$TMP/abn.jsonl" 2>/dev/null
"$SYNFIN" --replay lifecycle.rec --sample 3 >"$TMP/sample.jsonl" 2>/dev/null
"$SYNFIN" --replay lifecycle.rec --flows none >"$TMP/none.jsonl" 2>/dev/null
check replay-flows-and-sample python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
def load(n):
    return [json.loads(l) for l in open(f"{tmp}/{n}.jsonl")]
full = [r for r in load("lifecycle") if r["type"] == "flow"]
abnormal = [r for r in full if r["close"] not in ("normal", "simultaneous") or r["partial"]]
normal = len(full) - len(abnormal)
for name, want_normal in (("abn", 0), ("sample", (normal + 2) // 3), ("none", None)):
    recs = load(name)
    flows = [r for r in recs if r["type"] == "flow"]
    stats = [r for r in recs if r["type"] == "stats"][-1]
    want = 0 if want_normal is None else len(abnormal) + want_normal
    assert len(flows) == want, f"{name}: {len(flows)} flow records, want {want}"
    assert stats["flows"]["not_written"] == len(full) - want, f"{name}: not_written {stats['flows']['not_written']}"
    # every flow still in the summaries: the process key sees them all
    procs = [r for r in recs if r["type"] == "summary" and r["kind"] == "process"]
    assert sum(r["flows"] for r in procs) == len(full), f"{name}: summaries count {sum(r['flows'] for r in procs)}"
PY

# summary records: one per key, counts that add up to the flows
"$SYNFIN" --replay lifecycle.rec --flows none --summary-top 1 >"$TMP/top1.jsonl" 2>/dev/null
check replay-summary-records python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
full = [r for r in map(json.loads, open(f"{tmp}/lifecycle.jsonl")) if r["type"] == "flow"]
summ = [r for r in map(json.loads, open(f"{tmp}/default.jsonl")) if r["type"] == "summary"]
listeners = {r["port"]: r for r in summ if r["kind"] == "listener"}
servers = [r for r in full if r["role"] == "server"]
assert set(listeners) == {r["local"]["port"] for r in servers}, listeners.keys()
for port, s in listeners.items():
    mine = [r for r in servers if r["local"]["port"] == port]
    assert s["flows"] == len(mine)
    for kind in ("normal", "reset"):
        assert s["closed"].get(kind, 0) == sum(r["close"] == kind for r in mine), (port, kind)
    hs = [r["durations_us"]["handshake"] for r in mine if "handshake" in r["durations_us"]]
    if hs:
        h = s["phases_us"]["handshake"]
        assert h["count"] == len(hs) and h["max"] == max(hs) and h["sum"] == sum(hs)
        assert sum(h["log2_us"]) == len(hs)
        assert h["p50"] <= h["p90"] <= h["p99"] <= h["max"]
remotes = [r for r in summ if r["kind"] == "remote"]
refused = sum(r["failed"].get("refused", 0) for r in remotes)
assert refused == sum(r["role"] == "client" and r["close"] == "refused" for r in full), refused
# --summary-top 1: one key per kind plus "other", which says how many it holds
top1 = [r for r in map(json.loads, open(f"{tmp}/top1.jsonl")) if r["type"] == "summary"]
lst = [r for r in top1 if r["kind"] == "listener"]
assert len(lst) == 2 and "other" in lst[1] and lst[1]["other"]["keys"] == len(listeners) - 1, lst
assert sum(r["flows"] for r in lst) == len(servers)
PY
