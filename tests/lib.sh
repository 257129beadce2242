# shellcheck shell=bash
# Shared helpers for synfin's shell tests. Every test prints one line per
# check: "PASS name", "FAIL name: why" or "SKIP name: why"; tests/run.sh
# counts them. Everything a test creates is registered for cleanup and
# removed on exit, failure included.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SYNFIN=${SYNFIN:-$TOP/build/synfin}
TCPCTL=${TCPCTL:-$TOP/build/tcpctl}
TMP=$(mktemp -d /tmp/synfin-test.XXXXXX)
_cleanups=()
_failed=0

cleanup_add() { _cleanups+=("$*"); }

_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[$i]}" >/dev/null 2>&1 || true
	done
	# namespaces made by ns_create, also from subshells ($(ns_create x)),
	# where a cleanup_add would not reach this shell: they end in -$$
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -- "^synfin-t-.*-$$\$"); do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; _failed=1; }
skip() { echo "SKIP $1: $2"; }

# check NAME CMD...: PASS if CMD succeeds, else FAIL with its stderr
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(echo "$out" | tail -n 3 | tr '\n' ' ')"
	fi
}

# expect NAME WANT_RC STDERR_REGEX CMD...: PASS if CMD exits WANT_RC and
# its stderr matches (an empty regex matches anything); its output is left
# in $TMP/out and $TMP/err
expect() {
	local name=$1 want=$2 re=$3 rc
	shift 3
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$name" "exit $rc, want $want; stderr: $(head -c 200 "$TMP/err")"
	elif [ -n "$re" ] && ! grep -Eq "$re" "$TMP/err"; then
		fail "$name" "stderr does not match /$re/: $(head -c 200 "$TMP/err")"
	else
		pass "$name"
	fi
}

# Root-only tests: on CI (CI=true) a missing privilege is a failure, never
# a skip, because BPF works there. Elsewhere they skip with a reason.
need_root() {
	local name=$1
	if [ "$(id -u)" -ne 0 ]; then
		if [ "${CI:-}" = true ]; then
			fail "$name" "needs root, and CI=true: kernel tests must run"
		else
			skip "$name" "needs root (run: sudo make test)"
		fi
		exit 0
	fi
}

# need_tools PREFIX TOOL...: a missing tool fails the test on CI (the
# installer provides them there), skips it elsewhere; then exits.
need_tools() {
	local prefix=$1 tool
	shift
	for tool in "$@"; do
		command -v "$tool" >/dev/null && continue
		if [ "${CI:-}" = true ]; then
			fail "$prefix/$tool" "$tool not installed"
		else
			skip "$prefix/$tool" "$tool not installed (make deps)"
		fi
		exit 0
	done
}

# ns_create NAME: a fresh network namespace with lo up, removed on exit
# (by name, so ns=$(ns_create x) is safe too).
ns_create() {
	local ns="synfin-t-$1-$$"
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up
	echo "$ns"
}

# ns_settle NS...: wait (3 s at most each) until no TCP socket in NS is
# between states (gone, listening or in TIME-WAIT): the kernel has done
# with a test's connections even when it deferred the softirq work, so
# stopping synfin now loses no transition
ns_settle() {
	local ns i
	for ns in "$@"; do
		for i in $(seq 60); do
			[ -z "$(ip netns exec "$ns" ss -tanH state connected exclude time-wait 2>/dev/null)" ] && break
			sleep 0.05
		done
	done
}

# in_cg DIR CMD...: CMD in cgroup DIR (a shell joins it, then execs)
in_cg() {
	local d=$1
	shift
	sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$d" "$@"
}

ns_inode() { stat -L -c %i "/var/run/netns/$1"; }

# wait_line FILE REGEX [TENTHS]: a line of a helper's output (default 10 s)
wait_line() {
	local i
	for ((i = 0; i < ${3:-100}; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start_synfin OUT NS [args...]: synfin in the background, scoped to NS,
# JSON Lines into OUT; waits until it is capturing. Sets SYNFIN_PID.
start_synfin() {
	local out=$1 ns=$2
	shift 2
	# the host's /run/synfin is not a test's: a socket only where asked
	local sock=--no-socket
	[[ " $* " == *" --socket "* ]] && sock=
	# the full records the checks read; tests of the default say so
	"$SYNFIN" --netns "/var/run/netns/$ns" -i 0 -o "$out" --detail segments --summary-interval 0 $sock "$@" 2>"$out.err" &
	SYNFIN_PID=$!
	cleanup_add "stop_pid $SYNFIN_PID INT 5"
	wait_ready "$SYNFIN_PID" capturing "$out.err" "$out.err"
}

# wait_ready PID PATTERN FILE ERRFILE: until FILE has a line matching
# PATTERN (20 s at most: loading BPF on a cold, busy machine is slow), or
# PID is gone; on failure ERRFILE goes to stderr.
wait_ready() {
	local pid=$1 pattern=$2 file=$3 err=$4 i
	for i in $(seq 400); do
		grep -q "$pattern" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$err" >&2
	return 1
}

# stop_pid PID [SIG] [SECS]: send SIG (default INT) to PID, a background
# child of this shell, wait at most SECS (default 10) for it to exit, then
# SIGKILL it. Returns its exit status, 124 if it had to be killed. A PID
# already waited for is left alone (returns 0): its number may be reused.
stop_pid() {
	local pid=$1 sig=${2:-INT} secs=${3:-10} i
	[[ $'\n'$(jobs -p)$'\n' == *$'\n'"$pid"$'\n'* ]] || return 0
	kill -"$sig" "$pid" 2>/dev/null
	for ((i = 0; i < secs * 20; i++)); do
		if [[ $'\n'$(jobs -rp)$'\n' != *$'\n'"$pid"$'\n'* ]]; then
			wait "$pid"
			return
		fi
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	return 124
}

# stop_synfin [SIG]: SIGINT (or SIG), bounded wait, return its exit status.
# shellcheck disable=SC2120 # SIG is optional
stop_synfin() {
	stop_pid "$SYNFIN_PID" "${1:-INT}" 10
}

# bpf_ids PID KIND: the ids of the BPF objects PID holds open, from fdinfo
# (KIND: link_id, prog_id or map_id; a link's fdinfo names its prog too)
bpf_ids() {
	# one awk for all of them: one per fd took seconds on a busy machine
	# (cat: an fd closed meanwhile is skipped, where mawk would stop)
	cat /proc/"$1"/fdinfo/* 2>/dev/null | awk -v k="$2:" '$1 == k { print $2 }' | sort -un
}

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

# expect_no_leftovers PREFIX LINKS PROGS MAPS: after synfin exited, none of
# these BPF objects (ids, as bpf_ids gave them while it ran) is left, and
# no sf_ link is orphaned; one PASS/FAIL per kind.
# Links go at once; programs and maps are freed after an RCU grace period:
# wait for them, bounded.
expect_no_leftovers() {
	local prefix=$1 links=$2 progs=$3 maps=$4 left i kind what
	for ((i = 0; i < 60; i++)); do
		left=$(leftovers "$links" "$progs" "$maps") || left="bpftool failed"
		! grep -q ': .' <<<"$left" && break
		sleep 0.05
	done
	for kind in links progs maps orphans; do
		what=$(grep "^$kind: " <<<"$left" | cut -d' ' -f2-)
		if [ -z "$what" ] && grep -q "^$kind:" <<<"$left"; then
			pass "$prefix/no-$kind-left"
		else
			fail "$prefix/no-$kind-left" "after exit: ${what:-$left}"
		fi
	done
}
