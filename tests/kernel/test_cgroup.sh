#!/usr/bin/env bash
# Container attribution on a real kernel: cgroup v2 directories made here
# (one named as Docker's systemd driver names a container's scope, one as
# a systemd service), a server and clients moved into them, and synfin's
# records must carry each end's cgroup path and the container id or unit
# it implies: flow records, stuck records, the live socket's snapshot of
# open flows, the cgroup summaries. A cgroup removed before its
# connection's record comes out with no path and is counted as gone; and
# without CAP_DAC_READ_SEARCH (no file handles) a walk of the cgroup2
# mount finds the same paths. Everything in a namespace and cgroups made
# here, removed on exit, failure included.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root cgroup
need_tools cgroup socat setpriv

ns=$(ns_create cgroup) || {
	fail cgroup/netns "ip netns add failed"
	exit 1
}
# cgroup2 mount (/sys/fs/cgroup on most hosts, .../unified on hybrid ones)
# and our own cgroup in it: ours are made below it
mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
rel=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
[ -n "$mnt" ] || {
	fail cgroup/cgroup2 "no cgroup2 mount in /proc/self/mounts"
	exit 1
}
relbase=${rel%/}/synfin-t-cg-$$
base=$mnt$relbase
hex=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
scope=docker-$hex.scope
mkdir "$base" || {
	fail cgroup/mkdir "cannot make $base"
	exit 1
}
# depth-first; a process still in one is killed first (ours only: the
# cgroups are this test's)
cleanup_add "for d in \$(find '$base' -depth -type d); do for p in \$(cat \"\$d/cgroup.procs\" 2>/dev/null); do kill -KILL \$p; done; done; sleep 0.2; find '$base' -depth -type d -exec rmdir {} \\;"
mkdir "$base/$scope" "$base/web.service" "$base/gone" "$base/out" || {
	fail cgroup/mkdir "cannot make cgroups below $base"
	exit 1
}

out=$TMP/synfin.jsonl
sock=$TMP/synfin.sock
if ! start_synfin "$out" "$ns" --socket "$sock" --stuck close_wait=1 --summary-interval 1; then
	fail cgroup/start "synfin did not start: $(tr '\n' ' ' <"$out.err")"
	exit 1
fi

# a server in web.service; clients in the docker-like scope
in_cg "$base/web.service" ip netns exec "$ns" socat TCP-LISTEN:7101,reuseaddr,fork EXEC:cat 2>/dev/null &
srv=$!
cleanup_add "kill $srv"
for _ in $(seq 50); do
	ip netns exec "$ns" ss -tlnH 'sport = :7101' | grep -q . && break
	sleep 0.1
done
for i in 1 2 3; do
	echo "hello $i" | in_cg "$base/$scope" ip netns exec "$ns" socat - TCP:127.0.0.1:7101 >/dev/null ||
		fail cgroup/client "socat client $i failed"
done

# one held open from the scope (the live socket's snapshot shows it), and
# a CLOSE_WAIT held past its 1 s threshold (a stuck record)
sleep 6 | in_cg "$base/$scope" ip netns exec "$ns" socat - TCP:127.0.0.1:7101 >/dev/null &
held=$!
cleanup_add "kill $held"
in_cg "$base/$scope" ip netns exec "$ns" timeout 30 "$TCPCTL" close-wait --port 7102 --hold 2500 \
	>"$TMP/cw.tcp" 2>&1 &
cw=$!
cleanup_add "kill $cw"
wait_line "$TMP/cw.tcp" '^hold' || fail cgroup/close-wait "tcpctl never held: $(tr '\n' ' ' <"$TMP/cw.tcp")"
sleep 1.5
timeout 4 socat -u "UNIX-CONNECT:$sock" - >"$TMP/live.jsonl" 2>"$TMP/live.err"

# a client whose cgroup is removed before its connection ends: it
# connects from gone/, moves itself to out/, waits until gone/ is removed
# (no timeout wrapper: it would stay in gone/ and keep it busy)
cat >"$TMP/mover.py" <<'EOF'
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", 7101))
with open(sys.argv[1] + "/cgroup.procs", "w") as f:
    f.write(str(os.getpid()))
print("moved", flush=True)
end = time.monotonic() + 20
while os.path.isdir(sys.argv[2]) and time.monotonic() < end:
    time.sleep(0.05)
s.close()
EOF
# (nsenter, not ip netns exec: that one mounts a /sys of its own, without
# the cgroup2 mount the mover writes to)
in_cg "$base/gone" nsenter --net="/var/run/netns/$ns" python3 "$TMP/mover.py" "$base/out" "$base/gone" \
	>"$TMP/mover.out" 2>&1 &
mover=$!
cleanup_add "kill $mover"
wait_line "$TMP/mover.out" moved || fail cgroup/mover "$(tr '\n' ' ' <"$TMP/mover.out")"
rmdir "$base/gone" || fail cgroup/rmdir "cannot remove $base/gone"
wait "$mover" || fail cgroup/mover "exited $?: $(tr '\n' ' ' <"$TMP/mover.out")"
wait "$cw" 2>/dev/null
wait "$held" 2>/dev/null
ns_settle "$ns"
sleep 1.2 # a summary interval
stop_synfin || fail cgroup/synfin-exit "exited $? on SIGINT"

# jcheck NAME FILE EXPR: EXPR over recs (the file's records) holds
jcheck() {
	check "$1" python3 - "$2" "$3" "$relbase" "$scope" "$hex" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base, scope, hexid = sys.argv[3], sys.argv[4], sys.argv[5]
docker = base + "/" + scope
web = base + "/web.service"
def p(r):
    return r.get("process") or {}
flows = [r for r in recs if r["type"] == "flow" and r["role"] in ("client", "server")]
ok = eval(sys.argv[2])
if not ok:
    print("not true:", sys.argv[2], "; records:", [(r["type"], r.get("role"), p(r).get("cgroup"),
          p(r).get("container"), p(r).get("unit")) for r in recs if r["type"] != "stats"][:12])
sys.exit(0 if ok else 1)
PY
}
C7101='[r for r in flows if r["role"] == "client" and r["peer"]["port"] == 7101]'
jcheck cgroup/client-flow-path "$out" \
	"sum(p(r).get('cgroup') == docker for r in $C7101) >= 4"
jcheck cgroup/client-flow-container "$out" \
	"all(p(r)['container'] == {'runtime': 'docker', 'id': hexid} and 'unit' not in p(r) for r in $C7101 if p(r).get('cgroup') == docker)"
jcheck cgroup/client-flow-cgroup-id "$out" \
	"all(isinstance(p(r)['cgroup_id'], int) and p(r)['cgroup_id'] > 1 for r in $C7101)"
jcheck cgroup/server-flow-unit "$out" \
	"sum(p(r).get('cgroup') == web and p(r).get('unit') == 'web.service' and 'container' not in p(r) for r in flows if r['role'] == 'server' and r['local']['port'] == 7101) >= 5"
jcheck cgroup/listen-record "$out" \
	"any(r['type'] == 'listen' and r['local']['port'] == 7101 and p(r).get('cgroup') == web for r in recs)"
jcheck cgroup/stuck-record-container "$out" \
	"any(r['type'] == 'stuck' and r['state'] == 'CLOSE_WAIT' and p(r).get('cgroup') == docker and p(r)['container']['id'] == hexid for r in recs)"
jcheck cgroup/summary-key-path "$out" \
	"any(r['type'] == 'summary' and r['kind'] == 'cgroup' and r.get('cgroup') == docker and r['container']['runtime'] == 'docker' for r in recs) and any(r['type'] == 'summary' and r['kind'] == 'cgroup' and r.get('cgroup') == web and r.get('unit') == 'web.service' for r in recs)"
jcheck cgroup/gone-no-path "$out" \
	"sum(p(r).get('cgroup', 'x') is None and p(r)['cgroup_id'] > 1 for r in $C7101) == 1"
jcheck cgroup/gone-counted "$out" \
	"[r for r in recs if r['type'] == 'stats'][-1]['cgroup']['gone'] >= 1 and [r for r in recs if r['type'] == 'stats'][-1]['cgroup']['resolved'] >= 2"
jcheck cgroup/live-open-snapshot "$TMP/live.jsonl" \
	"any(r['type'] == 'open' and r['role'] == 'client' and r['peer']['port'] == 7101 and p(r).get('cgroup') == docker and p(r)['container']['id'] == hexid for r in recs)"
jcheck cgroup/live-stuck-snapshot "$TMP/live.jsonl" \
	"any(r['type'] == 'stuck' and p(r).get('cgroup') == docker for r in recs)"

# ---- without CAP_DAC_READ_SEARCH: the walk ----------------------------------
out2=$TMP/walk.jsonl
setpriv --bounding-set -dac_read_search -- "$SYNFIN" --netns "/var/run/netns/$ns" -i 0 -o "$out2" --no-socket \
	--no-segments --detail segments --summary-interval 0 -v 2>"$out2.err" &
SYNFIN_PID=$!
cleanup_add "stop_pid $SYNFIN_PID INT 5"
if wait_ready "$SYNFIN_PID" capturing "$out2.err" "$out2.err"; then
	echo "again" | in_cg "$base/$scope" ip netns exec "$ns" socat - TCP:127.0.0.1:7101 >/dev/null
	ns_settle "$ns"
	sleep 0.3
	stop_synfin || fail cgroup/walk-exit "exited $? on SIGINT"
	jcheck cgroup/walk-client-path "$out2" \
		"any(p(r).get('cgroup') == docker and p(r)['container']['id'] == hexid for r in $C7101)"
	check cgroup/walk-said grep -q 'cgroup paths: a walk of' "$out2.err"
else
	fail cgroup/walk-start "synfin without CAP_DAC_READ_SEARCH did not start"
fi
kill "$srv" 2>/dev/null
exit "$_failed"
