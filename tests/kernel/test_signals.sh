#!/usr/bin/env bash
# Signals on a real daemon, with real connections in a namespace:
#  - SIGHUP reopens the output (logrotate's "create"): the renamed file
#    keeps what was written, the new file gets the rest; across both,
#    every connection's two flow records appear exactly once and every
#    line is valid JSON;
#  - SIGUSR1 writes a stats line at once (here -i 0: there is no other
#    until the exit).
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root signals
WAIT="python3 $TOP/tests/kernel/jsonwait.py"
CONNS=25

ns=$(ns_create signals) || {
	fail signals/netns "ip netns add failed"
	exit 1
}
out=$TMP/signals.jsonl
if ! start_synfin "$out" "$ns"; then
	fail signals/start "synfin did not start: $(tr '\n' ' ' <"$out.err")"
	exit 1
fi

# before the rotation: a batch of connections, some of it written
ip netns exec "$ns" timeout 30 "$TCPCTL" client-first --count "$CONNS" >"$TMP/before.tcp" 2>&1 ||
	fail signals/tcpctl-before "$(tr '\n' ' ' <"$TMP/before.tcp")"
$WAIT "$out" 10 'r["type"] == "flow"' >/dev/null ||
	fail signals/written-before "no flow record in the file before the rotation"

# the rotation: rename, then SIGHUP; synfin goes on writing meanwhile
mv "$out" "$out.1"
kill -HUP "$SYNFIN_PID"
for ((i = 0; i < 100; i++)); do
	[ -e "$out" ] && break
	sleep 0.05
done
check signals/hup-new-file test -e "$out"
check signals/hup-still-running kill -0 "$SYNFIN_PID"

# SIGUSR1: a stats line now, in the new file
t0=$(date +%s%N)
kill -USR1 "$SYNFIN_PID"
if $WAIT "$out" 5 'r["type"] == "stats"' >"$TMP/usr1.rec" 2>"$TMP/usr1.err"; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	pass "signals/usr1-stats (${ms} ms)"
else
	fail signals/usr1-stats "no stats line within 5 s of SIGUSR1: $(head -c 200 "$TMP/usr1.err")"
fi

# after the rotation: another batch, all of it into the new file
ip netns exec "$ns" timeout 30 "$TCPCTL" client-first --count "$CONNS" >"$TMP/after.tcp" 2>&1 ||
	fail signals/tcpctl-after "$(tr '\n' ' ' <"$TMP/after.tcp")"
ns_settle "$ns"
stop_synfin
rc=$?
if [ "$rc" -eq 0 ]; then
	pass signals/exit
else
	fail signals/exit "exited $rc on SIGINT: $(tr '\n' ' ' <"$out.err")"
fi

# Both files: JSON Lines; every record in one of them only; the line
# count of the last stats line is every line written before it, in both
# files; one stats line for SIGUSR1 and one at the exit, none other.
python3 - "$out.1" "$out" "$TMP/before.tcp" "$TMP/after.tcp" "$CONNS" <<'PY' || _failed=1
import json, re, sys

old, new, before, after, conns = sys.argv[1:6]
conns = int(conns)
ok = True

def check(name, cond, why):
    global ok
    print(("PASS signals/%s" % name) if cond else ("FAIL signals/%s: %s" % (name, why)))
    ok &= bool(cond)

def lines(path):
    try:
        raw = open(path, "rb").read()
    except OSError as e:
        return [], [str(e)]
    recs, bad = [], []
    if raw and not raw.endswith(b"\n"):
        bad.append("does not end with a newline")
    for i, l in enumerate(raw.split(b"\n")[:-1]):
        try:
            recs.append(json.loads(l.decode("utf-8")))
        except ValueError as e:
            bad.append("line %d: %s" % (i + 1, e))
    return recs, bad

r_old, bad_old = lines(old)
r_new, bad_new = lines(new)
check("old-file-json", not bad_old, "; ".join(bad_old[:3]))
check("new-file-json", not bad_new, "; ".join(bad_new[:3]))
check("old-file-kept", any(r["type"] == "flow" for r in r_old), "the renamed file has no flow record")
check("new-file-written", any(r["type"] == "flow" for r in r_new), "the new file has no flow record")

def tuples(path):
    t = []
    for l in open(path):
        m = re.search(r"client=(\S+):(\d+) server=(\S+):(\d+)", l)
        if l.startswith("conn ") and m:
            t.append(((m[1], int(m[2])), (m[3], int(m[4]))))
    return t

made = tuples(before) + tuples(after)
check("connections-made", len(made) == 2 * conns, "tcpctl reported %d connections, want %d" % (len(made), 2 * conns))
flows = [r for r in r_old + r_new if r["type"] == "flow"]
seen = {}
for r in flows:
    k = ((r["local"]["address"], r["local"]["port"]), (r["peer"]["address"], r["peer"]["port"]))
    seen[k] = seen.get(k, 0) + 1
missing = [c for c, s in made if seen.get((c, s), 0) != 1] + [s for c, s in made if seen.get((s, c), 0) != 1]
check("no-record-lost-or-doubled", not missing and len(flows) == 2 * len(made),
      "%d flow records for %d connections; not exactly once: %s" % (len(flows), len(made), missing[:4]))
ids = [r["id"] for r in flows]
check("flow-ids-unique", len(ids) == len(set(ids)), "a flow id appears twice")

stats_old = [r for r in r_old if r["type"] == "stats"]
stats_new = [r for r in r_new if r["type"] == "stats"]
check("stats-lines", not stats_old and len(stats_new) == 2,
      "%d stats lines in the old file, %d in the new (want 0 and 2: SIGUSR1, exit)" % (len(stats_old), len(stats_new)))
if stats_new:
    last = stats_new[-1]
    written = len(r_old) + len(r_new) - 1
    check("lines-counted", last["output"]["lines"] == written and last["output"]["write_errors"] == 0,
          "output %s, %d lines written before the last stats line" % (last["output"], written))
sys.exit(0 if ok else 1)
PY
exit "$_failed"
