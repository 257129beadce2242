#!/usr/bin/env bash
# Runs inside the fresh root's container (tests/fresh/run.sh starts it with
# systemd-nspawn: PID and network namespaces of its own). The README's run
# command ($FRESH_RUN_CMD) runs as a user would, in the background and
# bounded in time; a process that listened before it started (owner from
# /proc) then listens, connects and accepts while it runs (owners from BPF);
# Ctrl-C (SIGINT to its process group) stops it. Its stdout must be records
# only, each of that process's sockets must carry the container's pid and
# the host's beside it; then the lifecycle kernel test, whose checks compare
# process.pid with the pid its clients report, runs here too.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

W=$(mktemp -d /tmp/fresh-pidns.XXXXXX)
P1=20401 P2=20402
failed=0
fail() { echo "FAIL fresh/pidns/$1: $2"; failed=1; }

# wait_for SECS CMD...: until CMD succeeds, SECS at most
wait_for() {
	local i
	for ((i = 0; i < $1 * 20; i++)); do
		"${@:2}" && return 0
		sleep 0.05
	done
	return 1
}

python3 tests/fresh/peer.py --port $P1 --port2 $P2 --info "$W/peer" --go "$W/go" 2>"$W/peer.err" &
peer=$!
if ! wait_for 10 test -s "$W/peer"; then
	fail peer "not listening in 10 s: $(tr '\n' ' ' <"$W/peer.err")"
	exit 1
fi

# timeout puts the command in a process group of its own: Ctrl-C's target
timeout -s INT 300 sh -c "$FRESH_RUN_CMD" >"$W/run.out" 2>"$W/run.err" &
run=$!
t0=$SECONDS
if ! wait_for 240 grep -qs 'capturing' "$W/run.err"; then
	fail run-start "no 'capturing' in 240 s: $(tail -n 5 "$W/run.err" | tr '\n' ' ')"
	kill -INT -- -"$run" 2>/dev/null
	wait "$run"
	exit 1
fi
echo "# run command: built and capturing in $((SECONDS - t0)) s"
touch "$W/go"
wait "$peer" || fail peer "exited $?: $(tr '\n' ' ' <"$W/peer.err")"
# a closed flow's record goes out about 1 s after its last segment
# shellcheck disable=SC2317 # called through wait_for
client_flow() { grep -q "\"type\":\"flow\".*\"peer\":{\"address\":\"127.0.0.1\",\"port\":$P1}" "$W/run.out"; }
wait_for 15 client_flow || echo "# no client flow record for port $P1 in 15 s"
kill -INT -- -"$run" 2>/dev/null
wait_for 15 eval '! kill -0 -- -'"$run"' 2>/dev/null' ||
	fail run-stop "still running 15 s after SIGINT"
wait "$run"
echo "# run command stderr (last lines):"
tail -n 4 "$W/run.err" | sed 's/^/#   /'
grep -q '"type":"stats"' "$W/run.out" || fail run-final-stats "no stats record at exit (was it stopped cleanly?)"

python3 tests/fresh/check_run.py --out "$W/run.out" --info "$W/peer" --port $P1 --port2 $P2 || failed=1

CI=true bash tests/kernel/test_lifecycle.sh || failed=1
rm -rf "$W"
exit "$failed"
