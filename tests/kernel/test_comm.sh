#!/usr/bin/env bash
# Hostile process names: synfin must keep every output line valid JSON and
# report the comm exactly (invalid UTF-8 bytes as U+FFFD, the rest as is).
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root comm

CHECK=(python3 "$TOP/tests/kernel/check_flows.py")
ns=$(ns_create comm) || {
	fail comm/netns "ip netns add failed"
	exit 1
}
out=$TMP/synfin.jsonl
if ! start_synfin "$out" "$ns"; then
	fail comm/start "synfin did not start: $(tr '\n' ' ' <"$out.err")"
	exit 1
fi

# NAME|COMM (tcpctl's C escapes)|EXPECTED (Python escapes)
cases=(
	# quote, backslash, control character, newline, invalid byte
	'special|a"b\\c\x01\n\xffz|a"b\\c\x01\n\ufffdz'
	# valid UTF-8 stays as it is; tab and DEL are plain characters
	'utf8|caf\xc3\xa9\t\x7f|caf\u00e9\t\x7f'
	# 16 bytes: the kernel keeps 15 and cuts the é in half
	'cut|abcdefghijklmn\xc3\xa9|abcdefghijklmn\ufffd'
)
for c in "${cases[@]}"; do
	IFS='|' read -r name comm _ <<<"$c"
	ip netns exec "$ns" timeout 30 "$TCPCTL" client-first --comm "$comm" \
		>"$TMP/$name.tcpctl" 2>"$TMP/$name.err" ||
		fail "comm/$name/tcpctl" "$(tr '\n' ' ' <"$TMP/$name.err")"
done
ns_settle "$ns"
stop_synfin
rc=$?
if [ "$rc" -eq 0 ]; then
	pass comm/synfin-exit
else
	fail comm/synfin-exit "exited $rc on SIGINT"
fi

for c in "${cases[@]}"; do
	IFS='|' read -r name _ expected <<<"$c"
	"${CHECK[@]}" --jsonl "$out" --tcpctl "$TMP/$name.tcpctl" \
		--name "comm/$name" --expect-conns 1 --process --listen \
		--comm "$expected" --client close=normal --server close=normal ||
		_failed=1
done
exit "$_failed"
