#!/usr/bin/env bash
# Missing privileges give exit status 3 and one clear line; SIGTERM is a
# clean stop (exit 0) that leaves no BPF link, program or map behind.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root privileges

# no_caps NAME SETPRIV-ARGS...: synfin without capabilities must exit 3 with
# one stderr line naming CAP_BPF
no_caps() {
	local name=$1 rc lines
	shift
	timeout 10 setpriv "$@" --inh-caps=-all --bounding-set=-all -- \
		"$SYNFIN" -i 0 -o /dev/null >"$TMP/$name.out" 2>"$TMP/$name.err"
	rc=$?
	lines=$(wc -l <"$TMP/$name.err")
	if [ "$rc" -ne 3 ]; then
		fail "privileges/$name-exit" "exit status $rc, expected 3: $(tr '\n' ' ' <"$TMP/$name.err")"
	else
		pass "privileges/$name-exit"
	fi
	if [ "$lines" -eq 1 ] && grep -q 'CAP_BPF' "$TMP/$name.err"; then
		pass "privileges/$name-message"
	else
		fail "privileges/$name-message" "want one stderr line naming CAP_BPF, got $lines: $(tr '\n' ' ' <"$TMP/$name.err")"
	fi
	if [ -s "$TMP/$name.out" ]; then
		fail "privileges/$name-stdout" "wrote to stdout: $(head -c 200 "$TMP/$name.out")"
	else
		pass "privileges/$name-stdout"
	fi
}
# nobody, no capabilities
no_caps nobody --reuid=65534 --regid=65534 --clear-groups
# uid 0, but no capabilities at all
no_caps root-nocaps --reuid=0

ns=$(ns_create privileges) || {
	fail privileges/netns "ip netns add failed"
	exit 1
}
out=$TMP/synfin.jsonl
if ! start_synfin "$out" "$ns"; then
	fail privileges/start "synfin did not start: $(tr '\n' ' ' <"$out.err")"
	exit 1
fi
ip netns exec "$ns" timeout 30 "$TCPCTL" client-first >"$TMP/tcpctl.out" 2>&1 ||
	fail privileges/tcpctl "$(tr '\n' ' ' <"$TMP/tcpctl.out")"
links=$(bpf_ids "$SYNFIN_PID" link_id)
progs=$(bpf_ids "$SYNFIN_PID" prog_id)
maps=$(bpf_ids "$SYNFIN_PID" map_id)

# the links found are synfin's own: every one runs an sf_ program
names=$(bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
ids = {int(x) for x in sys.argv[1].split()}
progs = json.load(sys.stdin)
print(" ".join(sorted(p.get("name", "?") for p in progs if p["id"] in ids)))
' "$progs")
if [ -n "$links" ] && [ -n "$names" ] && ! tr ' ' '\n' <<<"$names" | grep -qv '^sf_'; then
	pass privileges/links-found
else
	fail privileges/links-found "links [$(tr "\n" " " <<<"$links")], programs [$names]"
fi

stop_synfin TERM
rc=$?
if [ "$rc" -eq 0 ]; then
	pass privileges/sigterm-exit
else
	fail privileges/sigterm-exit "exited $rc on SIGTERM: $(tr '\n' ' ' <"$out.err")"
fi
if grep -q '"type":"flow"' "$out"; then
	pass privileges/sigterm-output
else
	fail privileges/sigterm-output "no flow record written before the SIGTERM exit"
fi

expect_no_leftovers privileges "$links" "$progs" "$maps"
exit "$_failed"
