#!/usr/bin/env bash
# The README's two commands on a fresh Debian 12 machine, as a new user runs
# them (`make test-fresh`; root; .ci/run runs it after the test suite).
#
#  root    a minimal Debian root (debootstrap --variant=minbase: no make, no
#          sudo, no compiler) made once from the host's apt sources and
#          cached as a tarball under /var/cache/synfin-fresh/; each run
#          unpacks it into a temporary directory, copies the committed tree
#          in (git archive HEAD: uncommitted changes are not tested) at
#          /opt/synfin, and the host's apt sources into /etc/apt.
#  test    the README's test command (its second command line, read from the
#          README) in a chroot of that root: a machine of its own as far as
#          packages go, with the full root privileges a real one gives and
#          the host's kernel. tracefs is mounted there as systemd does at
#          boot. It installs everything, builds, and the whole suite must
#          pass (CI=true: nothing skipped). The host's apt cache is bound in,
#          so .debs come from there when the host has them.
#  pidns   the README's run command (its first command line) in the same
#          root, under systemd-nspawn: PID and network namespaces of its own,
#          as in a container (a chroot shares the host's PID namespace, and
#          the run command hooks every interface of its network namespace:
#          here, only the container's lo). It builds from scratch, so its
#          stdout must be records only through a first build; the pids of a
#          process's sockets must be the container's, the host's beside;
#          then the lifecycle kernel test runs there (tests/fresh/inside-pidns.sh).
#
# Everything is undone on every exit path: the mounts live in mount
# namespaces of the phases (they vanish with them), the processes in cgroups
# made here (killed, then removed depth-first, with what nspawn adds below
# them), the temporary directory is deleted. Prints PASS/FAIL lines, the
# time of each phase, and "N passed, N failed, N skipped".
#
# Environment: FRESH_SUITE (bookworm), FRESH_CACHE (/var/cache/synfin-fresh),
# FRESH_KEEP=1 keeps the temporary directory (its path is printed).
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SUITE=${FRESH_SUITE:-bookworm}
CACHE=${FRESH_CACHE:-/var/cache/synfin-fresh}
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
TARBALL=$CACHE/debian-$SUITE-minbase-$ARCH.tar.gz
MARK=.synfin-fresh-root # in the root: the suite inside must not come back here
DEST=/opt/synfin

# Internal: the body of each phase, run by this script itself inside the
# phase's cgroups and in a mount namespace of its own (unshare -m)
case ${1:-} in
__test-phase) # R DEST CMD: mounts of a booted machine, then chroot
	set -e
	R=$2
	mount --bind "$R" "$R" # / a mount point, as ip netns exec needs
	mount -t proc proc "$R/proc"
	mount --rbind /sys "$R/sys"
	# a host where systemd booted has tracefs mounted
	[ -d "$R/sys/kernel/tracing/events" ] || mount -t tracefs tracefs "$R/sys/kernel/tracing"
	mount --rbind /dev "$R/dev"
	mount -t tmpfs -o mode=0755 tmpfs "$R/run"
	mount --bind /var/cache/apt/archives "$R/var/cache/apt/archives"
	exec chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb CI=true \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		sh -c "cd $3 && $4"
	;;
__pidns-phase) # T DEST CMD: a container; nspawn takes the cgroups it is
	# started in (--keep-unit) and makes its own below them. BPF needs the
	# capabilities, the bpf() and perf_event_open() system calls and a bpffs
	# of its own; the host's /proc, read-only, lets the peer learn its host
	# pid. /run private: what nspawn keeps there goes with this namespace
	mount -t tmpfs -o mode=0755 tmpfs /run || exit 1
	mount -t bpf bpf "$2/bpffs" || exit 1
	exec systemd-nspawn --quiet --console=pipe -D "$2/root" --as-pid2 \
		--register=no --keep-unit --private-network \
		--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN \
		--system-call-filter='bpf perf_event_open' \
		--bind="$2/bpffs:/sys/fs/bpf" --bind-ro=/proc:/run/host-proc \
		--setenv=CI=true --setenv=FRESH_RUN_CMD="$4" --chdir="$3" \
		bash "$3/tests/fresh/inside-pidns.sh"
	;;
esac

npass=0 nfail=0 nskip=0
pass() { echo "PASS $1"; npass=$((npass + 1)); }
fail() { echo "FAIL $1: $2"; nfail=$((nfail + 1)); }
skip() { echo "SKIP $1: $2"; nskip=$((nskip + 1)); }
summary() {
	echo
	echo "$npass passed, $nfail failed, $nskip skipped"
}

if [ -e "/$MARK" ]; then
	skip fresh "already inside a fresh root: not nesting one"
	summary
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI:-}" = true ]; then
		fail fresh "needs root, and CI=true"
	else
		skip fresh "needs root (sudo make test-fresh)"
	fi
	summary
	[ "$nfail" -eq 0 ]
	exit
fi

T=
CGROUPS=()
declare -A TIMES

now() { echo "$EPOCHREALTIME"; }
# secs T0 [T1]: seconds from T0 to T1 (default now), one decimal
secs() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.1f", b - a }'; }

# ---- cgroups: every process of a phase is in one, so none can outlive it

# cgroup v2 mount point (/sys/fs/cgroup on most hosts, .../unified on
# hybrid ones) and, when mounted, the v1 hierarchies nspawn also uses
cg_roots() {
	awk '$3 == "cgroup2" { print "0 " $2 }
	     $3 == "cgroup" && $4 ~ /(^|,)name=systemd(,|$)/ { print "name=systemd " $2 }
	     $3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print "memory " $2 }' /proc/self/mounts
}

# cg_make NAME: a cgroup NAME below ours in each hierarchy: CG_NEW; the
# v2 one is also CG_V2; all go to CGROUPS (removed on exit)
cg_make() {
	local key mnt rel dir
	CG_V2=
	CG_NEW=()
	while read -r key mnt; do
		if [ "$key" = 0 ]; then
			rel=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
		else
			rel=$(awk -F: -v k="$key" '{ n = split($2, c, ","); for (i = 1; i <= n; i++) if (c[i] == k) print $3 }' /proc/self/cgroup)
		fi
		dir=${mnt%/}${rel%/}/$1
		mkdir "$dir" 2>/dev/null || continue
		CGROUPS+=("$dir")
		CG_NEW+=("$dir")
		[ "$key" = 0 ] && CG_V2=$dir
	done < <(cg_roots)
	[ -n "$CG_V2" ]
}

# in_phase CGROUP... -- CMD...: CMD in those cgroups and a mount namespace
# of its own, at most 30 min
in_phase() {
	local d
	while [ "$1" != -- ]; do
		echo "$BASHPID" >"$1/cgroup.procs" || return 1
		shift
	done
	shift
	exec timeout -k 10 1800 unshare -m --propagation private "$@"
}

# cg_kill DIR: end every process left in DIR (v2; ours: started here)
cg_kill() {
	local i p
	[ -d "$1" ] || return 0
	for i in $(seq 50); do
		[ -z "$(find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && return 0
		if [ -w "$1/cgroup.kill" ]; then
			echo 1 >"$1/cgroup.kill"
		else
			find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null |
				while read -r p; do kill -KILL "$p" 2>/dev/null; done
		fi
		sleep 0.1
	done
	return 1
}

cleanup() {
	local d i
	for ((i = ${#CGROUPS[@]} - 1; i >= 0; i--)); do
		d=${CGROUPS[$i]}
		cg_kill "$d" || echo "# cleanup: processes left in $d"
		# nspawn leaves payload/ and supervisor/ below: depth first
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
		[ -d "$d" ] && echo "# cleanup: could not remove cgroup $d"
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		# the phases' mounts live in their own mount namespaces; if one
		# is visible here something went wrong: never delete through it
		if awk -v t="$T/" 'index($5 "/", t) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
			echo "# cleanup: mounts left under $T: not deleting it"
		elif [ "${FRESH_KEEP:-0}" = 1 ]; then
			echo "# kept: $T"
		else
			rm -rf --one-file-system "$T"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools for this test (the host's, from Debian's archive)
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
if [ ${#need[@]} -gt 0 ]; then
	echo "# installing ${need[*]} (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
		fail fresh/tools "apt-get install ${need[*]} failed"
		summary
		exit 1
	fi
fi

# ---- the README's commands: its first two indented command lines
mapfile -t CMDS < <(awk '/^    [^ ]/ { sub(/^ +/, ""); sub(/ +#.*$/, ""); print; if (++n == 2) exit }' "$TOP/README.md")
RUN_CMD=${CMDS[0]:-}
TEST_CMD=${CMDS[1]:-}
if [ -z "$RUN_CMD" ] || [ -z "$TEST_CMD" ]; then
	fail fresh/readme "no two command lines at the top of README.md"
	summary
	exit 1
fi
echo "# README: run command '$RUN_CMD', test command '$TEST_CMD'"
if [ -n "$(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	echo "# note: uncommitted changes are not tested (git archive HEAD)"
fi

# ---- the cached root
# shellcheck disable=SC2016 # apt's own $(FIELD) syntax
mirror=$(apt-get indextargets --format '$(SITE)' 'Identifier: Packages' 'Component: main' "Release: $SUITE" 2>/dev/null | head -n 1)
t0=$(now)
if [ -s "$TARBALL" ]; then
	TIMES[debootstrap]="cached"
	pass "fresh/root: $TARBALL (cached)"
elif [ -z "$mirror" ]; then
	fail fresh/root "the host's apt sources have no '$SUITE main' to debootstrap from"
	summary
	exit 1
else
	mkdir -p "$CACHE"
	T=$(mktemp -d /var/tmp/synfin-fresh.XXXXXX)
	# debootstrap keeps its .debs in the host's apt cache (same names)
	if debootstrap --variant=minbase --arch="$ARCH" --cache-dir=/var/cache/apt/archives \
		"$SUITE" "$T/root" "$mirror" >"$T/debootstrap.log" 2>&1 &&
		tar --numeric-owner --xattrs --xattrs-include='*' -C "$T/root" -czf "$TARBALL.tmp" . &&
		mv "$TARBALL.tmp" "$TARBALL"; then
		TIMES[debootstrap]="$(secs "$t0") s"
		pass "fresh/root: debootstrap $SUITE minbase from $mirror -> $TARBALL (${TIMES[debootstrap]})"
	else
		fail fresh/root "debootstrap failed: $(tail -n 3 "$T/debootstrap.log" | tr '\n' ' ')"
		rm -f "$TARBALL.tmp"
		summary
		exit 1
	fi
	rm -rf --one-file-system "$T"
	T=
fi

t0=$(now)
T=$(mktemp -d /var/tmp/synfin-fresh.XXXXXX)
R=$T/root
mkdir "$R"
if ! tar --numeric-owner --xattrs --xattrs-include='*' -C "$R" -xzpf "$TARBALL"; then
	fail fresh/unpack "cannot unpack $TARBALL (remove it to make it again)"
	summary
	exit 1
fi
# what the installer writes on a real machine (a minbase root has none)
cp /etc/resolv.conf "$R/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
# the host's apt sources, the keys they name, its network settings for apt
rm -f "$R/etc/apt/sources.list"
srcs=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && srcs+=("$f") && cp "$f" "$R$f"
done
for k in $(sed -n 's/.*[Ss]igned-[Bb]y[:=] *\([^] ]*\).*/\1/p' "${srcs[@]}" | sort -u); do
	[ -f "$k" ] && [ ! -e "$R$k" ] && install -D -m 644 "$k" "$R$k"
done
cp -n /etc/apt/trusted.gpg.d/* "$R/etc/apt/trusted.gpg.d/" 2>/dev/null
for f in $(grep -l 'Acquire::' /etc/apt/apt.conf /etc/apt/apt.conf.d/* 2>/dev/null); do
	cp "$f" "$R/etc/apt/apt.conf.d/"
done
mkdir -p "$R$DEST"
if ! git -C "$TOP" archive HEAD | tar -x -C "$R$DEST"; then
	fail fresh/unpack "git archive HEAD failed"
	summary
	exit 1
fi
touch "$R/$MARK"
TIMES[unpack]="$(secs "$t0") s"
pass "fresh/unpack: root and tree in $T (${TIMES[unpack]})"

# ---- item 1: without root and without sudo, one clear line, exit 1
out=$(chroot --userspec=65534:65534 "$R" /usr/bin/env -i PATH=/usr/bin:/bin sh -c "cd $DEST && $TEST_CMD" 2>&1)
rc=$?
if [ "$rc" = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"su -c"* ]]; then
	pass "fresh/not-root: exit 1, '$out'"
else
	fail fresh/not-root "as nobody, without sudo: exit $rc, output: $(echo "$out" | head -n 3 | tr '\n' ' ')"
fi

# ---- phase 1: the test command in a chroot
# prefixed LOG CMD...: CMD's output, each line as "  | line" and, with its
# time, into LOG; returns CMD's status
prefixed() {
	local log=$1 line
	shift
	"$@" 2>&1 | while IFS= read -r line; do
		printf '  | %s\n' "$line"
		printf '%s %s\n' "$EPOCHREALTIME" "$line" >>"$log"
	done
	return "${PIPESTATUS[0]}"
}

# phase_time LOG REGEX: time of the first line of LOG matching REGEX
phase_time() { awk -v re="$2" '{ t = $1; sub(/^[^ ]+ /, "") } $0 ~ re { print t; exit }' "$1"; }

if ! cg_make "synfin-fresh-$$-test"; then
	fail fresh/cgroup "cannot make a cgroup v2 below $(cg_roots | tr '\n' ' ')"
	summary
	exit 1
fi
echo "# test command in a chroot of $R:"
t0=$(now)
: >"$T/test.log"
prefixed "$T/test.log" in_phase "${CG_NEW[@]}" -- "$BASH" "$TOP/tests/fresh/run.sh" __test-phase "$R" "$DEST" "$TEST_CMD"
rc=$?
t1=$(now)
cg_kill "$CG_V2" || echo "# processes left in $CG_V2"
closing=$(awk '{ sub(/^[^ ]+ /, "") } /^[0-9]+ passed, [0-9]+ failed/ { l = $0 } END { print l }' "$T/test.log")
tb=$(phase_time "$T/test.log" '^  (CC|BPF|SKEL|LINK) ')
ts=$(phase_time "$T/test.log" '^== ')
TIMES[test]="$(secs "$t0" "$t1") s (deps ${tb:+$(secs "$t0" "$tb") s}, build ${tb:+${ts:+$(secs "$tb" "$ts") s}}, suite ${ts:+$(secs "$ts" "$t1") s})"
if [ "$rc" -eq 0 ] && [[ $closing == *" 0 failed"* ]]; then
	pass "fresh/test-command: '$TEST_CMD': $closing (${TIMES[test]})"
else
	fail fresh/test-command "'$TEST_CMD' exited $rc: ${closing:-no closing line} (${TIMES[test]})"
fi

# ---- phase 2: the run command in a container (own PID and network namespaces)
if ! cg_make "synfin-fresh-$$-pidns"; then
	fail fresh/cgroup "cannot make a cgroup v2 for the container"
	summary
	exit 1
fi
rm -rf "$R$DEST/build" # a first build: its stdout must stay clean too
mkdir "$T/bpffs"
echo "# run command in a container (systemd-nspawn) of $R:"
t0=$(now)
: >"$T/pidns.log"
prefixed "$T/pidns.log" in_phase "${CG_NEW[@]}" -- "$BASH" "$TOP/tests/fresh/run.sh" __pidns-phase "$T" "$DEST" "$RUN_CMD"
rc=$?
t1=$(now)
cg_kill "$CG_V2" || echo "# processes left in $CG_V2"
TIMES[pidns]="$(secs "$t0" "$t1") s"
# the lines the inner checks printed count here
p=$(grep -c '^[0-9.]* PASS ' "$T/pidns.log")
f=$(grep -c '^[0-9.]* FAIL ' "$T/pidns.log")
if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then
	pass "fresh/pidns: '$RUN_CMD' in a PID namespace of its own: $p checks passed (${TIMES[pidns]})"
else
	fail fresh/pidns "'$RUN_CMD' in a PID namespace of its own: exit $rc, $p checks passed, $f failed (${TIMES[pidns]}):$(grep '^[0-9.]* FAIL ' "$T/pidns.log" | head -n 5 | cut -d' ' -f2- | sed 's/^/ /' | tr '\n' ';')"
fi

echo
echo "fresh timings: debootstrap ${TIMES[debootstrap]}, unpack ${TIMES[unpack]}, test command ${TIMES[test]}, run command in a PID namespace ${TIMES[pidns]}"
summary
[ "$nfail" -eq 0 ]
