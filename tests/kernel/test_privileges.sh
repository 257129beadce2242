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

# bpf_ids PID KIND: the ids of the BPF objects PID holds open, from fdinfo
# (KIND: link_id, prog_id or map_id; a link's fdinfo names its prog too)
bpf_ids() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		awk -v k="$2:" '$1 == k { print $2 }' "$f" 2>/dev/null
	done | sort -un
}

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

# leftovers LINKS PROGS MAPS: prints "links: ..", "progs: ..", "maps: .."
# for those of the given ids still in the kernel, and "orphans: .." for
# links of sf_ programs that no process holds open (pinned or leaked)
leftovers() {
	python3 - "$@" <<-'EOF'
		import glob, json, subprocess, sys

		def show(kind):
		    r = subprocess.run(["bpftool", "-j", kind, "show"],
		                       capture_output=True, text=True, check=True)
		    return json.loads(r.stdout or "[]")

		def ids(arg):
		    return {int(x) for x in arg.split()}

		links, progs, maps = show("link"), show("prog"), show("map")
		names = {p["id"]: p.get("name", "") for p in progs}
		held = set()
		for f in glob.glob("/proc/[0-9]*/fdinfo/*"):
		    try:
		        with open(f) as fh:
		            for line in fh:
		                if line.startswith("link_id:"):
		                    held.add(int(line.split()[1]))
		    except OSError:
		        pass
		out = {
		    "links": [str(l["id"]) for l in links if l["id"] in ids(sys.argv[1])],
		    "progs": ["%s(%d)" % (p.get("name"), p["id"]) for p in progs
		              if p["id"] in ids(sys.argv[2])],
		    "maps": ["%s(%d)" % (m.get("name"), m["id"]) for m in maps
		             if m["id"] in ids(sys.argv[3])],
		    "orphans": ["%d(%s)" % (l["id"], names.get(l.get("prog_id"), "?"))
		                for l in links if l["id"] not in held and
		                names.get(l.get("prog_id"), "").startswith("sf_")],
		}
		for k, v in out.items():
		    print("%s: %s" % (k, " ".join(v)))
	EOF
}

# links go at once; programs and maps are freed after an RCU grace period:
# wait for them, bounded
for ((i = 0; i < 60; i++)); do
	left=$(leftovers "$links" "$progs" "$maps") || left="bpftool failed"
	! grep -q ': .' <<<"$left" && break
	sleep 0.05
done
for kind in links progs maps orphans; do
	what=$(grep "^$kind: " <<<"$left" | cut -d' ' -f2-)
	if [ -z "$what" ] && grep -q "^$kind:" <<<"$left"; then
		pass "privileges/no-$kind-left"
	else
		fail "privileges/no-$kind-left" "after exit: ${what:-$left}"
	fi
done
exit "$_failed"
