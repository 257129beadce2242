#!/usr/bin/env bash
# The unit, replay and CLI tests again, against the ASan+UBSan build in
# build/asan/ (make asan-build): one line per suite, "PASS asan-<suite>",
# or "FAIL asan-<suite>: " with the failed checks and the sanitizer's
# first lines. Any sanitizer report fails: UBSan stops at the first.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

A=$TOP/build/asan
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$TOP/tests/asan.supp:print_suppressions=0

if [ ! -x "$A/synfin" ] || [ ! -x "$A/test_unit" ]; then
	if [ "${CI:-}" = true ]; then
		fail asan "$A not built (make asan-build), and CI=true"
	else
		skip asan "not built: make asan-build (clang)"
	fi
	exit 0
fi

suite() {
	local name=$1 out=$TMP/$1.out rc n bad san
	shift
	"$@" >"$out" 2>&1
	rc=$?
	n=$(grep -c '^PASS' "$out")
	bad=$(grep '^FAIL' "$out" | head -n 3 | cut -c1-200 | tr '\n' ' ')
	san=$(grep -m 3 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error|^SUMMARY: ' "$out" | cut -c1-200 | tr '\n' ' ')
	if [ "$rc" -eq 0 ] && [ -z "$bad" ] && [ -z "$san" ]; then
		pass "asan-$name: $n checks"
	else
		fail "asan-$name" "exit $rc; ${bad}${san}"
	fi
}

suite unit "$A/test_unit"
suite replay env SYNFIN="$A/synfin" "$TOP/tests/replay/run.sh"
suite cli env SYNFIN="$A/synfin" "$TOP/tests/cli.sh"
