#!/usr/bin/env bash
# Volume for a fleet, with the real kernel: by default a normal connection
# gives two summary flow records (<= 600 bytes each), a refused one a full
# record; --flows none writes no flow record but counts them all; summary
# records come every --summary-interval and add up to the connections made.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root volume

ns=$(ns_create volume) || {
	fail volume/netns "ip netns add failed"
	exit 1
}
N=20 # connections, linger 1 ms
H=5  # and with the server's close 50 ms after the client's: FIN_WAIT_2 handed over
D=3  # the same from a cgroup named as Docker names a container's
# the record names the owner's cgroup: the clients run in cgroups of
# ours, named as a host's would be (a service; a container), so the size
# measured is not the test host's path
mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
rel=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
[ -n "$mnt" ] || {
	fail volume/cgroup2 "no cgroup2 mount in /proc/self/mounts"
	exit 1
}
base=$mnt${rel%/}/synfin-t-vol-$$
hex=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$base/web.service" "$base/docker-$hex.scope" || {
	fail volume/cgroup "cannot make cgroups below $base"
	exit 1
}
cleanup_add "for d in '$base/web.service' '$base/docker-$hex.scope'; do for p in \$(cat \"\$d/cgroup.procs\" 2>/dev/null); do kill -KILL \$p; done; done; sleep 0.2; rmdir '$base/web.service' '$base/docker-$hex.scope' '$base'"
run() { # NAME [synfin options]: N normal connections and one refused
	local name=$1 out=$TMP/$1.jsonl
	shift
	if ! start_synfin "$out" "$ns" --detail auto "$@"; then
		fail "volume/$name/start" "synfin did not start: $(tr '\n' ' ' <"$out.err")"
		return 1
	fi
	in_cg "$base/web.service" ip netns exec "$ns" timeout 30 "$TCPCTL" client-first --count "$N" --linger-ms 1 >/dev/null 2>"$TMP/$name.tcpctl.err" ||
		fail "volume/$name/tcpctl" "$(tr '\n' ' ' <"$TMP/$name.tcpctl.err")"
	in_cg "$base/web.service" ip netns exec "$ns" timeout 30 "$TCPCTL" client-first --count "$H" --linger-ms 50 >/dev/null 2>"$TMP/$name.tcpctl.err" ||
		fail "volume/$name/tcpctl-handoff" "$(tr '\n' ' ' <"$TMP/$name.tcpctl.err")"
	in_cg "$base/docker-$hex.scope" ip netns exec "$ns" timeout 30 "$TCPCTL" client-first --count "$D" --linger-ms 50 >/dev/null 2>"$TMP/$name.tcpctl.err" ||
		fail "volume/$name/tcpctl-docker" "$(tr '\n' ' ' <"$TMP/$name.tcpctl.err")"
	# two on one tuple: the second takes the server's time-wait socket
	# (reused; the SYN that does may be answered late: counted apart)
	ip netns exec "$ns" timeout 30 "$TCPCTL" server-first --count 2 --port 20998 --client-port 40999 --linger-ms 20 >/dev/null 2>"$TMP/$name.tcpctl.err" ||
		fail "volume/$name/tcpctl-reuse" "$(tr '\n' ' ' <"$TMP/$name.tcpctl.err")"
	ip netns exec "$ns" timeout 30 "$TCPCTL" refused --port 20999 >/dev/null 2>&1
	ns_settle "$ns"
	# one summary interval passes while synfin runs
	sleep 2.5
	stop_synfin
}

run default --summary-interval 2 && check volume/default-records python3 - "$TMP/default.jsonl" "$((N + H + D))" "$hex" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
hexid = sys.argv[3]
reuse = lambda r: 20998 in (r["local"]["port"], r["peer"]["port"])
flows = [(json.loads(l), len(l)) for l in lines if '"type":"flow"' in l]
assert len([r for r, _ in flows if reuse(r)]) == 4, "the two connections on one tuple"
flows = [(r, size) for r, size in flows if not reuse(r)]
normal = [(r, size) for r, size in flows if r["close"] == "normal"]
refused = [r for r, _ in flows if r["close"] == "refused"]
assert len(normal) == 2 * n, f"{len(normal)} normal flow records, want {2 * n}"
assert len(refused) == 1 and "handshake" in refused[0]["segments"], "the refused flow is not in full"
for r, size in normal:
    assert "digest" in r["segments"] and r["segments"]["acks_ok"], r["segments"]
    # a service's process: <= 600 bytes; a container's carries its
    # 64-hex id (docs/containers.md): <= 600 + 64
    p = r["process"]
    if "container" in p:
        assert p["container"] == {"runtime": "docker", "id": hexid} and "cgroup" not in p, p
        assert size <= 664, f"a normal flow record of a container's process of {size} bytes: {r}"
    else:
        assert p.get("unit") == "web.service" and "cgroup" not in p and "cgroup_id" not in p, p
        assert size <= 600, f"a normal flow record of {size} bytes: {r}"
    assert r["segments"]["digest"].count(">") + r["segments"]["digest"].count("<") >= 6, r["segments"]
# the client that closed first waited in FIN_WAIT_2 for the server's
# FIN: handed to a time-wait socket, its record has nothing more to say
four = [r for r, _ in normal if r["role"] == "client" and r["segments"]["digest"] == ">S <SA >A | >F <A <F >A"]
assert len(four) >= 5 + 3, [r["segments"]["digest"] for r, _ in normal]
assert all(r["path"].endswith(">FIN_WAIT_2>TIME_WAIT") and "time_wait" not in r and "durations_from" not in r for r in four), four[0]
print(f"normal flow records: {min(s for _, s in normal)}-{max(s for _, s in normal)} bytes", file=sys.stderr)
assert sum("container" in r["process"] for r, _ in normal) == 2 * 3
# a time-wait socket's routine exit (reused here) is counted, not written
st = [json.loads(l) for l in lines if '"type":"stats"' in l][-1]["time_wait"]
assert st["reused"] >= 1 and st["not_written"] == st["reused"] + st["expired"] + st["untracked"], st
assert not [l for l in lines if '"type":"time_wait"' in l], "a routine time_wait record written"
summ = [json.loads(l) for l in lines if '"type":"summary"' in l]
procs = [r for r in summ if r["kind"] == "process"]
assert sum(r["flows"] for r in procs) == 2 * n + 1 + 4, [r["flows"] for r in procs]
# the interval fired while running (2 s, at least 0.5 s before the exit)
from datetime import datetime
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
stop = t([json.loads(l) for l in lines if '"type":"stats"' in l][-1]["time"])
assert min(t(r["time"]) for r in summ) < stop - 0.4, "summaries only at exit"
rem = [r for r in summ if r["kind"] == "remote" and r["peer"]["port"] == 20999]
assert sum(r["failed"].get("refused", 0) for r in rem) == 1, rem
lst = [r for r in summ if r["kind"] == "listener" and r["port"] != 20998]
assert sum(r["closed"].get("normal", 0) for r in lst) == n
assert sum(r["phases_us"]["handshake"]["count"] for r in lst if "handshake" in r["phases_us"]) == n
PY

run none --flows none --summary-interval 60 && check volume/flows-none-counted python3 - "$TMP/none.jsonl" "$((N + H + D))" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
assert not [r for r in recs if r["type"] == "flow"], "--flows none wrote flow records"
st = [r for r in recs if r["type"] == "stats"][-1]
assert st["flows"]["not_written"] == 2 * n + 1 + 4, (st["flows"], [r["close"] for r in recs if r["type"] == "flow"])
procs = [r for r in recs if r["type"] == "summary" and r["kind"] == "process"]
assert sum(r["flows"] for r in procs) == 2 * n + 1 + 4, [(r.get("comm"), r.get("other"), r["flows"]) for r in procs]
PY
exit "$_failed"
