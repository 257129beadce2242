#!/usr/bin/env bash
# Filters with the real kernel: connections a filter leaves out give no
# record while the others give full ones, and the events synfin receives
# drop accordingly (the work is saved in the kernel, counted in stats
# 'filtered'). Ports (include, exclude), address prefixes (IPv4, IPv6,
# an exclusion inside an inclusion), process names, and a cgroup v2
# directory this test makes (and removes).
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root filters
need_tools filters socat

ns=$(ns_create filters) || {
	fail filters/netns "ip netns add failed"
	exit 1
}
# addresses of the prefix cases, on the namespace's lo
ip -n "$ns" addr add 10.99.0.1/24 dev lo
ip -n "$ns" addr add 10.99.1.1/24 dev lo
ip -n "$ns" addr add fd99::1/64 dev lo nodad
N=8
KEEP=20301
DROP=20302
MIXED=20303

# conns NAME ARGS...: N connections (client and server in one tcpctl)
conns() {
	local name=$1
	shift
	ip netns exec "$ns" timeout 30 "$TCPCTL" client-first --count "$N" --linger-ms 1 "$@" \
		>"$TMP/$name.tcpctl" 2>"$TMP/$name.tcpctl.err" ||
		fail "filters/$name/tcpctl" "$(tr '\n' ' ' <"$TMP/$name.tcpctl.err")"
}

# run NAME TRAFFIC-FUNCTION [synfin options]
run() {
	local name=$1 traffic=$2 out=$TMP/$1.jsonl
	shift 2
	if ! start_synfin "$out" "$ns" "$@"; then
		fail "filters/$name/start" "synfin did not start: $(tr '\n' ' ' <"$out.err")"
		return 1
	fi
	"$traffic"
	ns_settle "$ns"
	stop_synfin
	# full records need the segment hooks (EBUSY: another synfin that
	# follows every namespace hooked ours first)
	if grep -q DEGRADED "$out.err"; then
		fail "filters/$name/degraded" "$(grep DEGRADED "$out.err" | head -1)"
		return 1
	fi
}

# verdict FILE: checks the records of a run (python, below): each
# KEY=N argument: N full flow records whose peer or local address:port
# or comm matches KEY ("port:P", "addr:A", "comm:C"); stats must show
# filtered.WHAT >= 1 for each "filtered:WHAT"
verdict() {
	python3 - "$@" <<'PY'
import json, sys
path, *wants = sys.argv[1:]
recs = [json.loads(l) for l in open(path)]
flows = [r for r in recs if r["type"] == "flow"]
stats = [r for r in recs if r["type"] == "stats"][-1]
def match(r, key):
    kind, val = key.split(":", 1)
    if kind == "port":
        return int(val) in (r["local"]["port"], r["peer"]["port"])
    if kind == "addr":
        return val in (r["local"]["address"], r["peer"]["address"])
    if kind == "comm":
        return (r.get("process") or {}).get("comm") == val
    raise SystemExit(f"bad key {key}")
seen = set()
for w in wants:
    key, n = w.rsplit("=", 1)
    if key.startswith("filtered:"):
        what = key.split(":", 1)[1]
        got = stats["filtered"][what]
        assert got >= int(n), f"stats filtered.{what} = {got}, want >= {n}"
        continue
    got = [r for r in flows if match(r, key)]
    seen.update(id(r) for r in got)
    assert len(got) == int(n), f"{len(got)} flow records for {key}, want {n}"
    for r in got:
        # full: both ends' handshake and teardown, every segment
        assert not r["partial"] and r["close"] == "normal", (r["close"], r["partial"])
        s = r["segments"]
        assert len(s["handshake"]) == 3 and len(s["teardown"]) >= 2, s
others = [r for r in flows if id(r) not in seen]
assert not others, f"{len(others)} flow records not wanted, e.g. {others[0]['local']} {others[0]['peer']}"
print(json.dumps({"received": stats["events"]["received"], "filtered": stats["filtered"]}))
PY
}

# judge NAME FILE WANTS...: verdict as a check; the events received of a
# run that passed in $TMP/NAME.received (one python per run: it takes
# seconds to start on a loaded machine)
judge() {
	local name=$1 out
	shift
	if out=$(verdict "$@" 2>&1); then
		pass "$name"
		sed -n 's/.*"received": \([0-9]*\).*/\1/p' <<<"$out" >"$TMP/${name##*/}.received"
	else
		fail "$name" "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
	fi
}
received() { cat "$TMP/$1.received" 2>/dev/null; }

# ---- ports: the same traffic without a filter, with --port, with
# --exclude-port; the events received drop with what is left out
ports_traffic() {
	conns keep --port "$KEEP"
	conns drop --port "$DROP"
}
run nofilter ports_traffic &&
	judge filters/no-filter "$TMP/nofilter.jsonl" "port:$KEEP=$((2 * N))" "port:$DROP=$((2 * N))"
run port ports_traffic --port "$KEEP" &&
	judge filters/port "$TMP/port.jsonl" "port:$KEEP=$((2 * N))" filtered:port=1
# a range and a list: the kept port among them, the other not
run exclude ports_traffic --exclude-port "22,$DROP-$((DROP + 5))" &&
	judge filters/exclude-port "$TMP/exclude.jsonl" "port:$KEEP=$((2 * N))" filtered:port=1

all=$(received no-filter)
kept=$(received port)
excl=$(received exclude-port)
# half the connections left out: at most 60% of the events (the other
# half's events never left the kernel)
if [[ -n "$all" && -n "$kept" && -n "$excl" ]] && ((kept * 10 <= all * 6 && excl * 10 <= all * 6 && kept > 0)); then
	pass "filters/events-saved (received: $all without a filter, $kept with --port, $excl with --exclude-port)"
else
	fail filters/events-saved "received: '$all' without a filter, '$kept' with --port, '$excl' with --exclude-port"
fi

# ---- address prefixes (IPv4, IPv6, an exclusion inside an inclusion),
# in the kernel; and process names, in the daemon (on records): one not
# named, one named and excluded too (the exclusion wins)
cidr_comm_traffic() {
	conns v4lo --addr 127.0.0.1 --comm keepme
	conns v4in --addr 10.99.0.1 --comm keepme
	conns v4ex --addr 10.99.1.1 --comm keepme
	conns v6lo --addr ::1 --comm keepme
	conns v6in --addr fd99::1 --comm keepme
	conns dropme --addr 10.99.0.1 --comm dropme
	conns other --addr fd99::1 --comm other
}
run cidr cidr_comm_traffic --cidr 10.99.0.0/16 --cidr fd99::/64 --exclude-cidr 10.99.1.0/24 \
	--comm keepme --comm dropme --exclude-comm dropme &&
	judge filters/cidr-comm "$TMP/cidr.jsonl" "addr:10.99.0.1=$((2 * N))" "addr:fd99::1=$((2 * N))" \
		filtered:cidr=1 filtered:flows=$((4 * N)) filtered:records=2

# ---- a cgroup v2 directory of our own, a child in it: the subtree
cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [ -z "$cgroot" ]; then
	fail filters/cgroup "no cgroup2 filesystem mounted"
	exit "$_failed"
fi
cg=$cgroot/synfin-t-filters-$$
mkdir "$cg" && mkdir "$cg/child" || {
	fail filters/cgroup "cannot make $cg"
	exit "$_failed"
}
# processes in it are gone by then (every tcpctl was waited for)
cleanup_add "rmdir '$cg/child' '$cg'"
cgroup_traffic() {
	local i srv
	# a subshell moved into the child cgroup runs the kept connections
	(echo "$BASHPID" >"$cg/child/cgroup.procs" && conns incg --comm incg) || fail filters/cgroup/move "cannot join $cg/child"
	conns outcg --comm outcg
	# one end in, one out: the kept end's record is whole (the segments
	# are kept when any verdict says in), the other end's is left out
	ip netns exec "$ns" timeout 10 socat -u TCP-LISTEN:"$MIXED",reuseaddr - >/dev/null 2>&1 &
	srv=$!
	for i in $(seq 100); do
		[ -n "$(ip netns exec "$ns" ss -ltnH "sport = :$MIXED")" ] && break
		sleep 0.05
	done
	(echo "$BASHPID" >"$cg/child/cgroup.procs" &&
		ip netns exec "$ns" timeout 10 socat -u - TCP:127.0.0.1:"$MIXED" </dev/null) ||
		fail filters/cgroup/mixed "the client inside could not connect"
	wait "$srv" # only it: synfin is a child of this shell too
}
# named as systemd names units' cgroups: below the cgroup2 mount
run cgroup cgroup_traffic --cgroup "/synfin-t-filters-$$" &&
	judge filters/cgroup "$TMP/cgroup.jsonl" "comm:incg=$((2 * N))" "port:$MIXED=1" filtered:cgroup=1
# the segments of the connections left out stay in the kernel too
incg=$(received cgroup)
if [[ -n "$all" && -n "$incg" ]] && ((incg * 10 <= all * 6 && incg > 0)); then
	pass "filters/cgroup-events-saved (received: $all without a filter, $incg with --cgroup)"
else
	fail filters/cgroup-events-saved "received: '$all' without a filter, '$incg' with --cgroup"
fi
# a full path does as well; a file that is no cgroup is refused
expect filters/cgroup-path 0 "" "$SYNFIN" --replay "$TOP/tests/replay/lifecycle.rec" --cgroup "$cg" -o /dev/null
expect filters/cgroup-not-one 2 "not a cgroup v2 directory" "$SYNFIN" --replay "$TOP/tests/replay/lifecycle.rec" \
	--cgroup /etc -o /dev/null
exit "$_failed"
