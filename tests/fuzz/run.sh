#!/usr/bin/env bash
# Runs the libFuzzer targets (build/fuzz/fuzz_*, `make fuzz-build`) one
# after the other, from their seed and regression corpora
# (tests/fuzz/corpus/<target>/), and prints one line per target:
#   PASS fuzz-<target>: runs, executions per second, inputs found
#   FAIL fuzz-<target>: the crash file, the sanitizer's first lines
#   tests/fuzz/run.sh                 15 s per target (what tests/run.sh runs)
#   tests/fuzz/run.sh --seconds N     N seconds in all, split between them
#   tests/fuzz/run.sh --keep          new inputs kept in build/fuzz/corpus/
#                                     (else in a temporary directory)
#   tests/fuzz/run.sh --only T        one target
# A crash input stays in build/fuzz/crashes/<target>/; once the bug is
# fixed, copy it to tests/fuzz/corpus/<target>/regress-<what> so every run
# replays it.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"

targets=(replay flow ring show top)
seconds=
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) seconds=$2; shift ;;
	--keep) keep=1 ;;
	--only) targets=("$2"); shift ;;
	*) echo "usage: $0 [--seconds N] [--keep] [--only TARGET]" >&2; exit 2 ;;
	esac
	shift
done
per=$(( ${seconds:-$(( 15 * ${#targets[@]} ))} / ${#targets[@]} ))
[ "$per" -ge 1 ] || per=1

# A small quarantine: every input makes a fresh flow table, and with
# ASan's default (256 MiB) each one lands on new pages, four times slower;
# 16 MiB still holds many inputs' worth of freed memory.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16}

declare -A max_len=([replay]=12032 [flow]=4096 [ring]=2048 [show]=16384 [top]=16384)

for t in "${targets[@]}"; do
	bin=$TOP/build/fuzz/fuzz_$t
	if [ ! -x "$bin" ]; then
		if [ "${CI:-}" = true ]; then
			fail "fuzz-$t" "$bin not built (make fuzz-build), and CI=true"
		else
			skip "fuzz-$t" "not built: make fuzz-build (clang, libclang-rt-dev, libjansson-dev)"
		fi
		continue
	fi
	work=$TMP/corpus-$t
	[ "$keep" = 1 ] && work=$TOP/build/fuzz/corpus/$t
	crashes=$TOP/build/fuzz/crashes/$t
	mkdir -p "$work" "$crashes"
	dict=()
	[ -f "$TOP/tests/fuzz/$t.dict" ] && dict=(-dict="$TOP/tests/fuzz/$t.dict")
	log=$TOP/build/fuzz/fuzz-$t.log
	# new inputs go to the first directory: never the committed corpus
	"$bin" -max_total_time="$per" -timeout=10 -rss_limit_mb=1024 -max_len="${max_len[$t]}" \
		-print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" \
		"$work" "$TOP/tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	found=$(sed -n 's/^stat::new_units_added: *//p' "$log")
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		pass "fuzz-$t: ${per}s, $runs runs, $speed exec/s, $found new inputs, 0 crashes"
	else
		crash=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
		why=$(grep -m 3 -E 'ERROR: |runtime error|fuzz check|SUMMARY' "$log" | cut -c1-240 | tr '\n' ' ')
		fail "fuzz-$t" "exit $rc; input ${crash:-(none written)}; ${why:-see $log}"
	fi
done
