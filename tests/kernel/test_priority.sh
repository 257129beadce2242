#!/usr/bin/env bash
# --priority-boost: synfin runs at nice -5 by default (its rings absorb a
# burst only while it gets the CPU), keeps a nice the user set, and
# --priority-boost 0 leaves it as started.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root priority

ns=$(ns_create prio) || {
	fail priority/netns "ip netns add failed"
	exit 1
}
# nice_of NAME [nice N] [synfin options]: synfin's nice once it captures
nice_of() {
	local name=$1 out=$TMP/$1.jsonl pre=()
	shift
	if [ "${1:-}" = nice ]; then
		pre=(nice -n "$2")
		shift 2
	fi
	"${pre[@]}" "$SYNFIN" --netns "/var/run/netns/$ns" -i 0 -o "$out" --no-socket --summary-interval 0 "$@" 2>"$out.err" &
	SYNFIN_PID=$!
	cleanup_add "stop_pid $SYNFIN_PID INT 5"
	if ! wait_ready "$SYNFIN_PID" capturing "$out.err" "$out.err"; then
		echo "did not start"
		return
	fi
	ps -o ni= -p "$SYNFIN_PID" | tr -d ' '
	stop_synfin
}
got=$(nice_of default)
check priority/default-nice-minus-5 test "$got" = -5
got=$(nice_of kept nice 3)
check priority/user-nice-kept test "$got" = 3
got=$(nice_of off --priority-boost 0)
check priority/boost-0-as-started test "$got" = 0
exit "$_failed"
