#!/usr/bin/env bash
# kill -9 under load, then a restart. A killed synfin cannot unhook: its
# tc filters (and the clsact qdiscs it made) stay on the interfaces of the
# test's namespace (lo, and a veth to a second namespace), holding its
# programs. The next synfin, started while the load goes on, must remove
# them: after its start each hook holds exactly one filter, its own, and
# none of the killed one's programs or maps is left in the kernel. After it
# stops normally, no filter and no clsact qdisc is left. Every line both
# wrote is valid JSON, and the second one's flow records are whole.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root kill
STORM=$TOP/build/storm

ns=$(ns_create kill) && peer=$(ns_create killpeer) || { fail kill/setup "ip netns add failed"; exit 0; }
ip -n "$ns" link add sfk0 type veth peer name sfk1 netns "$peer" &&
	ip -n "$ns" addr add 10.77.0.1/24 dev sfk0 && ip -n "$ns" link set sfk0 up &&
	ip -n "$peer" addr add 10.77.0.2/24 dev sfk1 && ip -n "$peer" link set sfk1 up ||
	{ fail kill/setup "veth failed"; exit 0; }

# hooks NS: "DEV DIR prog-id" per filter on a clsact hook
hooks() {
	local dev dir
	for dev in lo sfk0; do
		for dir in ingress egress; do
			ip netns exec "$ns" tc filter show dev "$dev" "$dir" 2>/dev/null |
				grep -o ' id [0-9]*' | awk -v d="$dev $dir" '{ print d, $2 }'
		done
	done
}
clsact() { ip netns exec "$ns" tc qdisc show 2>/dev/null | grep -c clsact; }

OUT1=$TMP/first.jsonl
start_synfin "$OUT1" "$ns" -i 1 || { fail kill/start-first "$(cat "$OUT1.err")"; exit 0; }
old_progs=$(bpf_ids "$SYNFIN_PID" prog_id)
old_maps=$(bpf_ids "$SYNFIN_PID" map_id | tr '\n' ' ')
old_links=$(bpf_ids "$SYNFIN_PID" link_id | tr '\n' ' ')
# a synfin elsewhere on the host that follows every namespace (synfin top
# --standalone, a host-wide daemon) may hook this one first: then the
# interfaces are not ours to test with
for id in $(hooks | awk '{ print $3 }'); do
	grep -qx "$id" <<<"$old_progs" && continue
	holder=$(grep -l "^prog_id:[[:space:]]*$id\$" /proc/[0-9]*/fdinfo/* 2>/dev/null | head -n 1 | cut -d/ -f3)
	[ "${CI:-}" = true ] && fail kill "another process hooks this test's namespace" && exit 0
	skip kill "another process hooks this test's namespace (pid ${holder:-?} $(cat /proc/"${holder:-0}"/comm 2>/dev/null)): run it when no host-wide synfin runs"
	exit 0
done
ip netns exec "$ns" "$STORM" --clients 1 --servers 1 --duration 60 --port 20611 >"$TMP/storm.out" 2>&1 &
STORM_PID=$!
cleanup_add "stop_pid $STORM_PID INT 5"
sleep 1
kill -KILL "$SYNFIN_PID"
wait "$SYNFIN_PID" 2>/dev/null
left=$(hooks | wc -l)
echo "# killed under load: $left filter(s) and $(clsact) clsact qdisc(s) left behind"
[ "$left" -gt 0 ] || fail kill/left-behind "no filter left after kill -9: the test proves nothing"

OUT2=$TMP/second.jsonl
t0=$(date +%s%N)
start_synfin "$OUT2" "$ns" -i 1 || { fail kill/restart "$(cat "$OUT2.err")"; exit 0; }
echo "# restarted in $((($(date +%s%N) - t0) / 1000000)) ms"
new_progs=$(bpf_ids "$SYNFIN_PID" prog_id)
hooks >"$TMP/hooks.txt"
dups=$(awk '{ print $1, $2 }' "$TMP/hooks.txt" | sort | uniq -d)
foreign=$(awk '{ print $3 }' "$TMP/hooks.txt" | grep -vxF -f <(echo "$new_progs") || true)
if [ -n "$dups" ] || [ -n "$foreign" ] || [ ! -s "$TMP/hooks.txt" ]; then
	fail kill/no-stale-hooks "after the restart: $(tr '\n' ';' <"$TMP/hooks.txt") (ours: $(echo $new_progs))"
else
	pass kill/no-stale-hooks
	echo "# hooks after the restart: $(awk '{ print $1 "/" $2 }' "$TMP/hooks.txt" | tr '\n' ' ')"
fi

# the load goes on a little under the new one, then stops
sleep 2
kill -INT "$STORM_PID"
wait "$STORM_PID" || fail kill/storm "storm failed: $(tail -n 2 "$TMP/storm.out" | tr '\n' ' ')"
expect_no_leftovers kill/old "$old_links" "$(echo $old_progs)" "$old_maps"
grep -q 'leftover filter(s) removed' "$OUT2.err" && echo "# $(grep -o '[0-9]* leftover filter(s) removed' "$OUT2.err" | head -1)"
ns_settle "$ns"
sleep 0.5
stop_synfin || fail kill/exit "the restarted synfin exited $?"
if [ "$(hooks | wc -l)" -eq 0 ] && [ "$(clsact)" -eq 0 ]; then
	pass kill/clean-after-stop
else
	fail kill/clean-after-stop "left: $(hooks | tr '\n' ';') $(clsact) clsact qdisc(s)"
fi

python3 - "$OUT1" "$OUT2" <<'EOF'
import json, sys
for name, path in (("killed", sys.argv[1]), ("restarted", sys.argv[2])):
    text = open(path, encoding="utf-8", errors="strict").read()
    lines = text.split("\n")
    bad = []
    for i, l in enumerate(lines[:-1]):
        try:
            json.loads(l)
        except ValueError:
            bad.append(i + 1)
    if lines[-1]:
        bad.append("a torn last line")
    if bad:
        print(f"FAIL kill/json-{name}: {len(bad)} invalid lines, e.g. {bad[:3]}")
    else:
        print(f"PASS kill/json-{name}")
        flows = sum(1 for l in lines[:-1] if l.startswith('{"type":"flow"'))
        print(f"# {name}: {len(lines) - 1} lines, {flows} flow records")
        if name == "restarted" and not flows:
            print("FAIL kill/restarted-sees-load: no flow record: the load ended before the restart")
EOF
exit 0
