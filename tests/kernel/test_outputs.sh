#!/usr/bin/env bash
# Output failures on a real daemon (--on-output-error):
#  - a closed pipe (`synfin | head -c 1000`): synfin exits 1 promptly, says
#    why, and leaves no hook (tc filter, BPF link, program or map);
#  - a full disk (-o on a 512 KiB tmpfs, mounted in a private mount
#    namespace: the host's mounts are untouched): with the default for a
#    file (drop), synfin goes on, says so on stderr, counts the lost lines
#    in stats, and every line of the file is whole, valid JSON, also
#    after space comes back; with --on-output-error exit it exits 1, and
#    the file still holds only whole lines.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root outputs
need_tools outputs unshare nsenter tc

# valid_jsonl NAME FILE: every line whole, valid JSON (a PASS/FAIL line)
valid_jsonl() {
	check "$1" python3 -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
assert raw, "empty file"
assert raw.endswith(b"\n"), "the last line is not whole: %r" % raw[-80:]
for i, l in enumerate(raw.split(b"\n")[:-1]):
    try:
        json.loads(l.decode("utf-8"))
    except ValueError as e:
        sys.exit("line %d: %s: %r" % (i + 1, e, l[:120]))
' "$2"
}

# ---- a closed pipe -----------------------------------------------------
ns=$(ns_create outpipe) || {
	fail outputs/netns "ip netns add failed"
	exit 1
}
mkfifo "$TMP/pipe"
head -c 1000 <"$TMP/pipe" >"$TMP/head.out" &
head_pid=$!
cleanup_add "stop_pid $head_pid TERM 2"
"$SYNFIN" --netns "/var/run/netns/$ns" -i 0 >"$TMP/pipe" 2>"$TMP/pipe.err" &
SYNFIN_PID=$!
cleanup_add "stop_pid $SYNFIN_PID INT 5"
if ! wait_ready "$SYNFIN_PID" capturing "$TMP/pipe.err" "$TMP/pipe.err"; then
	fail outputs/pipe-start "synfin did not start"
	exit 1
fi
links=$(bpf_ids "$SYNFIN_PID" link_id)
progs=$(bpf_ids "$SYNFIN_PID" prog_id)
maps=$(bpf_ids "$SYNFIN_PID" map_id)
# more than 1000 bytes of records: head takes its 1000 and goes
ip netns exec "$ns" timeout 30 "$TCPCTL" client-first --count 20 >/dev/null 2>&1
stop_pid "$head_pid" TERM 10 >/dev/null
head_gone=$(date +%s%N)
for ((i = 0; i < 100; i++)); do
	[[ $'\n'$(jobs -rp)$'\n' == *$'\n'"$SYNFIN_PID"$'\n'* ]] || break
	sleep 0.05
done
gone_ms=$((($(date +%s%N) - head_gone) / 1000000))
stop_pid "$SYNFIN_PID" INT 5
rc=$?
check outputs/pipe-head-got-1000 test "$(wc -c <"$TMP/head.out")" -eq 1000
if [ "$rc" -eq 1 ]; then
	pass outputs/pipe-exit-1
else
	fail outputs/pipe-exit-1 "exit status $rc, want 1: $(tr '\n' ' ' <"$TMP/pipe.err")"
fi
# promptly: it was not the SIGINT of stop_pid that ended it
if [ "$gone_ms" -lt 5000 ]; then
	pass "outputs/pipe-exit-prompt (${gone_ms} ms after the reader)"
else
	fail outputs/pipe-exit-prompt "still running ${gone_ms} ms after its reader went away"
fi
check outputs/pipe-says-why grep -q 'output -: Broken pipe' "$TMP/pipe.err"
filters=$(tc -n "$ns" filter show dev lo ingress; tc -n "$ns" filter show dev lo egress)
if [ -z "$filters" ]; then
	pass outputs/pipe-no-tc-filter-left
else
	fail outputs/pipe-no-tc-filter-left "$(tr '\n' ' ' <<<"$filters")"
fi
expect_no_leftovers outputs/pipe "$links" "$progs" "$maps"

# ---- a full disk -------------------------------------------------------
# full_disk NAME POLICY: synfin writing to a 512 KiB tmpfs filled up to
# 16 KiB, in a mount namespace of its own; traffic; the filler removed
# (space is back); SIGUSR1; more traffic; stop. Leaves $TMP/NAME.jsonl
# (a copy of the file), NAME.err, NAME.rc.
full_disk() {
	local name=$1 policy=$2 dir=$TMP/$1.mnt nsd spid i
	mkdir -p "$dir"
	nsd=$(ns_create "$name") || return 1
	# unshare execs sh in a new mount namespace (private: nothing
	# propagates back); the tmpfs and everything in it dies with it
	unshare -m --propagation private sh -c '
		dir=$1 synfin=$2 ns=$3 base=$4 policy=$5
		mount -t tmpfs -o size=512k synfin-test "$dir" || exit 97
		dd if=/dev/zero of="$dir/filler" bs=1k count=496 2>/dev/null
		"$synfin" --netns "/var/run/netns/$ns" -i 0 $policy -o "$dir/out.jsonl" 2>"$base.err" &
		echo $! >"$base.pid"
		wait $!
		echo $? >"$base.rc"
		cp "$dir/out.jsonl" "$base.jsonl"' sh "$dir" "$SYNFIN" "$nsd" "$TMP/$name" "$policy" &
	local wrapper=$!
	cleanup_add "stop_pid $wrapper TERM 5"
	for ((i = 0; i < 100; i++)); do
		[ -s "$TMP/$name.pid" ] && break
		sleep 0.05
	done
	spid=$(cat "$TMP/$name.pid" 2>/dev/null)
	[ -n "$spid" ] || return 1
	cleanup_add "kill -INT $spid"
	wait_ready "$spid" capturing "$TMP/$name.err" "$TMP/$name.err" || return 1
	# ~2 KiB per connection and end: far more than the 16 KiB left
	ip netns exec "$nsd" timeout 30 "$TCPCTL" client-first --count 60 >/dev/null 2>&1
	ns_settle "$nsd"
	sleep 1.5 # past the records' wait for late segments
	if kill -0 "$spid" 2>/dev/null; then
		# -r: synfin's root (a chroot's, where the suite runs in one), not its
		# mount namespace's
		nsenter -t "$spid" -m -r rm -f "$dir/filler"
		kill -USR1 "$spid"
		ip netns exec "$nsd" timeout 30 "$TCPCTL" client-first --count 3 >/dev/null 2>&1
		ns_settle "$nsd"
		sleep 1.5
		kill -INT "$spid"
	fi
	for ((i = 0; i < 200; i++)); do
		[ -e "$TMP/$name.rc" ] && break
		sleep 0.05
	done
	wait "$wrapper" 2>/dev/null
	[ -e "$TMP/$name.rc" ]
}

# drop (the default for a regular file): goes on, counts, says so
if full_disk full ''; then
	check outputs/full-drop-exit-0 test "$(cat "$TMP/full.rc")" -eq 0
	valid_jsonl outputs/full-drop-every-line-json "$TMP/full.jsonl"
	check outputs/full-drop-warned grep -q 'No space left on device;.*lines lost so far, going on' "$TMP/full.err"
	check outputs/full-drop-counted python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
st = [r for r in recs if r["type"] == "stats"]
assert len(st) >= 1, "no stats line"
last = st[-1]["output"]
assert last["write_errors"] > 0, "no write error counted: %s" % last
# every line written whole is counted, no other
assert last["lines"] == len(recs) - 1, "lines %d, %d in the file before the last stats" % (last["lines"], len(recs) - 1)
# records made after the space came back are there
flows_after = [r for r in recs[recs.index(st[0]):] if r["type"] == "flow"] if len(st) > 1 else []
assert flows_after, "no flow record after space came back (SIGUSR1 stats: %d)" % (len(st) - 1)
' "$TMP/full.jsonl"
else
	fail outputs/full-drop "the full-disk run did not complete: $(tr '\n' ' ' <"$TMP/full.err" 2>/dev/null)"
fi

# exit: the first failed write ends it (status 1), the file stays whole
if full_disk fullexit '--on-output-error exit'; then
	check outputs/full-exit-status-1 test "$(cat "$TMP/fullexit.rc")" -eq 1
	check outputs/full-exit-says-why grep -q 'No space left on device: stopping' "$TMP/fullexit.err"
	valid_jsonl outputs/full-exit-every-line-json "$TMP/fullexit.jsonl"
else
	fail outputs/full-exit "the full-disk run did not complete: $(tr '\n' ' ' <"$TMP/fullexit.err" 2>/dev/null)"
fi
exit "$_failed"
