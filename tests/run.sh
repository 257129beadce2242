#!/usr/bin/env bash
# Runs every synfin test and prints one closing line "N passed, N failed,
# N skipped". Exit 0 only when nothing failed.
#   tests/run.sh              unit, replay, CLI, sanitizer, fuzz and (root)
#                             kernel tests
#   tests/run.sh --no-kernel  without the kernel tests
set -uo pipefail
cd "$(dirname "$0")/.."

kernel=1
[ "${1:-}" = --no-kernel ] && kernel=0

log=$(mktemp /tmp/synfin-run.XXXXXX)
trap 'rm -f "$log"' EXIT

run() {
	echo "== $*"
	local t0=$SECONDS from
	from=$(($(wc -l <"$log") + 1))
	"$@" 2>&1 | tee -a "$log"
	local rc=${PIPESTATUS[0]}
	echo "# $* took $((SECONDS - t0)) s"
	# a suite that failed without saying FAIL (killed, a syntax error)
	# is a failure: only the lines this suite added are asked
	# (grep reads a process substitution: in a pipe, its early exit
	# would kill tail with SIGPIPE and pipefail would call that "none")
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL' <(tail -n "+$from" "$log"); then
		echo "FAIL $*: exited $rc" | tee -a "$log"
	fi
}

run build/test_unit
run tests/replay/run.sh
run tests/cli.sh
run tests/show/run.sh
run tests/service.sh
# the same with ASan+UBSan, and 15 s of each fuzz target (make check
# builds them: build/asan/, build/fuzz/)
run tests/asan.sh
run tests/fuzz/run.sh
if [ "$kernel" = 1 ]; then
	for t in tests/kernel/test_*.sh; do
		run bash "$t"
	done
	# a few seconds of the benchmark, to keep it working: it asserts that
	# it ran, that synfin lost nothing and that the floor build is the
	# floor (bench/report.py), never a speed
	if [ "$(id -u)" -eq 0 ]; then
		if bash bench/run.sh --quick >/tmp/synfin-bench-smoke.log 2>&1; then
			echo "PASS bench-smoke" | tee -a "$log"
		else
			echo "FAIL bench-smoke: $(tail -n 3 /tmp/synfin-bench-smoke.log | tr '\n' ' ')" | tee -a "$log"
		fi
	elif [ "${CI:-}" = true ]; then
		echo "FAIL bench-smoke: needs root, and CI=true" | tee -a "$log"
	else
		echo "SKIP bench-smoke: needs root (sudo make test)" | tee -a "$log"
	fi
fi

p=$(grep -c '^PASS' "$log")
f=$(grep -c '^FAIL' "$log")
s=$(grep -c '^SKIP' "$log")
if [ "$f" -gt 0 ]; then
	echo
	echo "failures:"
	grep '^FAIL' "$log"
fi
echo
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
