#!/usr/bin/env bash
# Cross-check synfin against bcc's tcpstates (Debian libbpf-tools): for each
# socket the test made, the transitions tcpstates printed must be the ones
# synfin's path implies, and the time spent in each state must agree.
#
# tcpstates attaches a classic tracepoint, so it needs tracefs: where the
# host has none mounted, scripts/with-tracefs.sh gives it a private mount
# (the host's mounts are untouched).
#
# tcpstates sees every namespace. To stay clear of unrelated traffic (and
# of lost events under a busy host) the servers use fixed ports and two
# tcpstates run filtered on them: -L (listeners and accepted sockets) and
# -D (clients). The checker then only takes lines with the test's 4-tuples.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root tcpstates

TCPSTATES=${TCPSTATES:-/usr/sbin/tcpstates}
if [ ! -x "$TCPSTATES" ]; then
	if [ "${CI:-}" = true ]; then
		fail tcpstates "$TCPSTATES missing (apt-get install libbpf-tools)"
	else
		skip tcpstates "$TCPSTATES missing (apt-get install libbpf-tools)"
	fi
	exit "$_failed"
fi

# fixed server ports, outside the ephemeral range
P_V4_CF=20011 P_V4_SF=20012 P_V6_CF=20013 P_V6_SF=20014 P_RESET=20015 P_REFUSED=20016
PORTS=$P_V4_CF,$P_V4_SF,$P_V6_CF,$P_V6_SF,$P_RESET,$P_REFUSED

ns=$(ns_create tcpstates) || {
	fail tcpstates/netns "ip netns add failed"
	exit 1
}
out=$TMP/synfin.jsonl
tc=$TMP/tcpctl.out

# start_tcpstates OUT ARGS...: stdbuf makes its output line-buffered, so the
# header (printed once attached) and each event show up at once
ts_pids=()
start_tcpstates() {
	local o=$1
	shift
	"$TOP/scripts/with-tracefs.sh" stdbuf -oL "$TCPSTATES" "$@" >"$o" 2>"$o.err" &
	ts_pids+=($!)
	cleanup_add "stop_pid $! INT 5"
}
start_tcpstates "$TMP/ts-local.out" -w -L "$PORTS"
start_tcpstates "$TMP/ts-remote.out" -w -D "$PORTS"
for ((i = 0; i < 200; i++)); do
	ready=0
	for f in "$TMP/ts-local.out" "$TMP/ts-remote.out"; do
		grep -q OLDSTATE "$f" && ready=$((ready + 1))
	done
	[ "$ready" -eq 2 ] && break
	for pid in "${ts_pids[@]}"; do
		[[ $'\n'$(jobs -rp)$'\n' == *$'\n'"$pid"$'\n'* ]] || break 2
	done
	sleep 0.05
done
if [ "$ready" -ne 2 ]; then
	fail tcpstates/start "tcpstates not ready in 10 s: $(cat "$TMP"/ts-*.err | tr '\n' ' ')"
	exit 1
fi
pass tcpstates/start
if ! start_synfin "$out" "$ns"; then
	fail tcpstates/synfin-start "$(tr '\n' ' ' <"$out.err")"
	exit 1
fi

run() {
	local rc
	ip netns exec "$ns" timeout 30 "$TCPCTL" "$@" >>"$tc" 2>>"$tc.err"
	rc=$?
	[ "$rc" -eq 0 ] || fail "tcpstates/tcpctl" "tcpctl $* exited $rc: $(tr '\n' ' ' <"$tc.err")"
}
run client-first --addr 127.0.0.1 --port $P_V4_CF --linger-ms 100 --count 2
run server-first --addr 127.0.0.1 --port $P_V4_SF --linger-ms 100
run client-first --addr ::1 --port $P_V6_CF --linger-ms 100
run server-first --addr ::1 --port $P_V6_SF --linger-ms 100 --count 2
run reset --addr 127.0.0.1 --port $P_RESET
run refused --addr ::1 --port $P_REFUSED

# ts_closes: "GOT WANT": how many of the test's sockets have their last
# transition ("-> CLOSE") printed by tcpstates, and how many there are
ts_closes() {
	awk 'FNR == NR {
		if ($1 != "conn")
			next
		for (i = 2; i <= NF; i++) {
			split($i, kv, "=")
			v[kv[1]] = kv[2]
		}
		c = v["client"]; s = v["server"]
		sub(/.*:/, "", c); sub(/.*:/, "", s)
		want[c " " s] = 1
		if (v["result"] == "ok")
			want[s " " c] = 1
		next
	}
	$(NF - 2) == "->" && $(NF - 1) == "CLOSE" && ($(NF - 6) " " $(NF - 4)) in want {
		seen[$(NF - 6) " " $(NF - 4)] = 1
	}
	END {
		for (k in want) n++
		for (k in seen) m++
		print m + 0, n + 0
	}' "$tc" "$TMP/ts-local.out" "$TMP/ts-remote.out"
}

# tcpstates polls its perf buffers every 100 ms and drops what is left on
# exit: wait (bounded) until every test socket's last transition is in
for ((i = 0; i < 100; i++)); do
	read -r got want < <(ts_closes)
	[ "$want" -gt 0 ] && [ "$got" -ge "$want" ] && break
	sleep 0.05
done
incomplete=()
if [ "$got" -lt "$want" ]; then
	incomplete=(--reference-incomplete "tcpstates printed the end of only $got of $want sockets in 5 s")
	echo "# ${incomplete[1]}; sockets still open in the test netns:"
	ip netns exec "$ns" ss -tano 2>&1 | sed 's/^/#   /'
fi

# misses_of PID: recursion misses of the BPF programs PID holds: the kernel
# skips a tracepoint program that would run nested (in a softirq on top of
# a BPF program or a BPF syscall on the same CPU), and only counts it
misses_of() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		awk '$1 == "prog_id:" { print $2 }' "$f" 2>/dev/null
	done | sort -un | while read -r id; do
		bpftool -j prog show id "$id" 2>/dev/null
		echo
	done | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    if line.strip():
        n += json.loads(line).get("recursion_misses", 0)
print(n)'
}
synfin_misses=$(misses_of "$SYNFIN_PID")
ts_misses=0
for pid in "${ts_pids[@]}"; do
	ts_misses=$((ts_misses + $(misses_of "$pid")))
done
if [ "$ts_misses" -gt 0 ] && [ ${#incomplete[@]} -eq 0 ]; then
	incomplete=(--reference-incomplete "tcpstates' program skipped $ts_misses nested runs")
fi
[ "$ts_misses" -gt 0 ] && echo "# tcpstates: $ts_misses recursion misses (events it never saw)"
[ "$synfin_misses" -gt 0 ] && echo "# synfin: $synfin_misses recursion misses (events it never saw)"

stop_synfin
rc=$?
if [ "$rc" -eq 0 ]; then
	pass tcpstates/synfin-exit
else
	fail tcpstates/synfin-exit "exited $rc on SIGINT"
fi
rc=0
for pid in "${ts_pids[@]}"; do
	stop_pid "$pid" INT 5
	[ $? -eq 124 ] && rc=124
done
if [ "$rc" -ne 124 ]; then
	pass tcpstates/tcpstates-exit
else
	fail tcpstates/tcpstates-exit "did not exit on SIGINT, killed"
fi
if grep -qi lost "$TMP"/ts-*.err; then
	echo "# tcpstates: $(grep -hi lost "$TMP"/ts-*.err | tr '\n' ' ')"
	[ ${#incomplete[@]} -eq 0 ] && incomplete=(--reference-incomplete "tcpstates lost events")
fi

# Runs the kernel skipped must be accounted for: caught by the backup copy
# of the state program (bpf.nested_caught) or reported as lost
if [ "$synfin_misses" -gt 0 ]; then
	check tcpstates/synfin-accounts-for-misses python3 -c '
import json, sys
misses = int(sys.argv[2])
stats = [r for r in map(json.loads, open(sys.argv[1])) if r.get("type") == "stats"]
if not stats:
    sys.exit("no stats line")
last = stats[-1]
ev, bpf = last.get("events", {}), last.get("bpf", {})
accounted = ev.get("lost", 0) + bpf.get("nested_caught", 0)
if accounted < 1:
    sys.exit("the kernel skipped %d runs of synfin'"'"'s programs (bpf_prog_info.recursion_misses) "
             "but its final stats account for none: events=%s bpf=%s" %
             (misses, json.dumps(ev), json.dumps(bpf)))
' "$out" "$synfin_misses"
else
	# nothing skipped this time: nothing to account for
	pass tcpstates/synfin-accounts-for-misses
fi

CHECK=(python3 "$TOP/tests/kernel/check_flows.py" --jsonl "$out" --tcpctl "$tc"
	--tcpstates "$TMP/ts-local.out" --tcpstates "$TMP/ts-remote.out"
	--netns "$(ns_inode "$ns")" "${incomplete[@]}")
"${CHECK[@]}" --name tcpstates/client-first --scenario client-first --expect-conns 3 || _failed=1
"${CHECK[@]}" --name tcpstates/server-first --scenario server-first --expect-conns 3 || _failed=1
"${CHECK[@]}" --name tcpstates/reset --scenario reset --expect-conns 1 || _failed=1
"${CHECK[@]}" --name tcpstates/refused --scenario refused --expect-conns 1 --no-server || _failed=1
exit "$_failed"
