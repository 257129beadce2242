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
# Everything is undone on every exit path: the test runs in a mount
# namespace of its own, its root on a tmpfs there; each long step runs in
# cgroups made here (its processes are killed, then the cgroups removed
# depth-first with what nspawn adds below them) and in a mount namespace of
# its own (its mounts vanish with it); the temporary directory is deleted. Prints
# PASS/FAIL lines, the time of each phase, and "N passed, N failed, N skipped".
#
# Environment: FRESH_SUITE (bookworm), FRESH_CACHE (/var/cache/synfin-fresh),
# FRESH_TEST_ARGS (words after the test command, e.g. WERROR=1),
# FRESH_KEEP=1 keeps the temporary directory (its path is printed).
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SELF=$TOP/tests/fresh/run.sh
SUITE=${FRESH_SUITE:-bookworm}
CACHE=${FRESH_CACHE:-/var/cache/synfin-fresh}
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
TARBALL=$CACHE/debian-$SUITE-minbase-$ARCH.tar
MARK=.synfin-fresh-root # in the root: the suite inside must not come back here
DEST=/opt/synfin

# Internal: the body of each step, run by this script itself in the step's
# cgroups and mount namespace (see phase)
case ${1:-} in
__debootstrap) # DIR MIRROR: the root, then its tarball (.debs kept in
	# the host's apt cache, under the same names)
	set -e
	debootstrap --variant=minbase --arch="$ARCH" --cache-dir=/var/cache/apt/archives \
		"$SUITE" "$2/boot" "$3"
	tar --numeric-owner --xattrs --xattrs-include='*' -C "$2/boot" -cf "$TARBALL.tmp" .
	mv "$TARBALL.tmp" "$TARBALL"
	exit
	;;
__test) # R DEST CMD: mounts of a booted machine, then chroot
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
	# the environment of a root login, and the terminal type of the
	# caller's (as a user's own terminal would give)
	exec chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 CI=true ${TERM:+TERM=$TERM} \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		sh -c "cd $3 && $4"
	;;
__pidns) # T DEST CMD: a container; nspawn takes the cgroups it is started
	# in (--keep-unit) and makes its own below them. BPF needs the
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
# give_up CHECK WHY: a FAIL that ends the test
give_up() {
	fail "$1" "$2"
	summary
	exit 1
}

if [ -e "/$MARK" ]; then
	skip fresh "already inside a fresh root: not nesting one"
	summary
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	if [ "${CI:-}" = true ]; then
		give_up fresh "needs root, and CI=true"
	fi
	skip fresh "needs root (sudo make test-fresh)"
	summary
	exit 0
fi

# The whole test in a mount namespace of its own: the tmpfs that holds the
# root (below) goes with it, however the test ends
if [ -z "${FRESH_MNTNS:-}" ]; then
	FRESH_MNTNS=1 exec unshare -m --propagation private "$BASH" "$SELF" "$@"
fi

T=
CGROUPS=()
declare -A TIMES

now() { echo "$EPOCHREALTIME"; }
# secs T0 [T1]: seconds from T0 to T1 (default now), one decimal
secs() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.1f", b - a }'; }

# ---- cgroups: every process of a step is in one, so none can outlive it

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

# cg_kill DIR: end every process left in DIR (v2; ours: started here)
cg_kill() {
	local i
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
	rm -f "$TARBALL.tmp"
	if [ -n "$T" ] && [ -d "$T" ]; then
		# the steps' mounts live in their own mount namespaces; if one
		# is visible here something went wrong: never delete through it
		if awk -v t="$T/" 'index($5, t) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
			echo "# cleanup: mounts left under $T: not deleting it"
		elif [ "${FRESH_KEEP:-0}" = 1 ]; then
			echo "# kept: $T"
		elif mountpoint -q "$T"; then
			umount "$T" && rmdir "$T"
		else
			rm -rf --one-file-system "$T"
		fi
	fi
}
trap cleanup EXIT
trap 'fail fresh "interrupted by a signal"; summary; exit 130' INT TERM

# prefixed LOG CMD...: CMD's output, each line shown as "  | line" and
# kept with its time in LOG; returns CMD's status
prefixed() {
	local log=$1 line
	shift
	"$@" 2>&1 | while IFS= read -r line; do
		printf '  | %s\n' "$line"
		printf '%s %s\n' "$EPOCHREALTIME" "$line" >>"$log"
	done
	return "${PIPESTATUS[0]}"
}

# in_cgroups CGROUP... -- CMD...: CMD in those cgroups and in a mount
# namespace of its own, 60 min at most; with SIGINT and SIGQUIT back to
# their defaults (bash ignores them in background jobs: the tests inside
# stop their daemons with SIGINT)
in_cgroups() {
	while [ "$1" != -- ]; do
		echo "$BASHPID" >"$1/cgroup.procs" || return 1
		shift
	done
	shift
	exec env --default-signal=INT,QUIT timeout -k 10 3600 unshare -m --propagation private "$@"
}

# step NAME ARG...: this script's internal step ARG... in cgroups and a
# mount namespace of its own; its output shown and kept in $T/NAME.log.
# In the background, so that a signal ends the wait at once (cleanup then
# kills the step). Sets STEP_RC, STEP_T0, STEP_T1.
step() {
	local name=$1
	shift
	cg_make "synfin-fresh-$$-$name" ||
		give_up fresh/cgroup "cannot make a cgroup v2 below $(cg_roots | tr '\n' ' ')"
	STEP_T0=$(now)
	: >"$T/$name.log"
	prefixed "$T/$name.log" in_cgroups "${CG_NEW[@]}" -- "$BASH" "$SELF" "$@" &
	wait $!
	STEP_RC=$?
	STEP_T1=$(now)
	cg_kill "$CG_V2" || echo "# processes left in $CG_V2"
}

# log_time LOG REGEX: time of the first line of LOG matching REGEX
log_time() { awk -v re="$2" '{ t = $1; sub(/^[^ ]+ /, "") } $0 ~ re { print t; exit }' "$1"; }

# ---- tools for this test (the host's, from Debian's archive)
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
if [ ${#need[@]} -gt 0 ]; then
	echo "# installing ${need[*]} (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } ||
		give_up fresh/tools "apt-get install ${need[*]} failed"
fi

# ---- the README's commands: its first two indented command lines
mapfile -t CMDS < <(awk '/^    [^ ]/ { sub(/^ +/, ""); sub(/ +#.*$/, ""); print; if (++n == 2) exit }' "$TOP/README.md")
RUN_CMD=${CMDS[0]:-}
TEST_CMD=${CMDS[1]:-}
[ -n "$RUN_CMD" ] && [ -n "$TEST_CMD" ] ||
	give_up fresh/readme "no two command lines at the top of README.md"
echo "# README: run command '$RUN_CMD', test command '$TEST_CMD'"
# CI adds make variables after it (FRESH_TEST_ARGS=WERROR=1)
TEST_CMD="$TEST_CMD${FRESH_TEST_ARGS:+ $FRESH_TEST_ARGS}"
if [ -n "$(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	echo "# note: uncommitted changes are not tested (git archive HEAD)"
fi
T=$(mktemp -d /var/tmp/synfin-fresh.XXXXXX)
R=$T/root
# in memory: dpkg's syncs cost nothing, and removing it takes no time (the
# root grows to ~2.5 GiB); on disk when it is to be kept
if [ "${FRESH_KEEP:-0}" != 1 ]; then
	mount -t tmpfs -o mode=0700,size=8g synfin-fresh "$T" ||
		give_up fresh/tmpfs "cannot mount a tmpfs on $T"
fi

# ---- the cached root
if [ -s "$TARBALL" ]; then
	TIMES[debootstrap]="cached"
	pass "fresh/root: $TARBALL (cached)"
else
	# shellcheck disable=SC2016 # apt's own $(FIELD) syntax
	mirror=$(apt-get indextargets --format '$(SITE)' 'Identifier: Packages' 'Component: main' "Release: $SUITE" 2>/dev/null | head -n 1)
	[ -n "$mirror" ] ||
		give_up fresh/root "the host's apt sources have no '$SUITE main' to debootstrap from"
	mkdir -p "$CACHE"
	echo "# debootstrap $SUITE (minbase) from $mirror, once:"
	step debootstrap __debootstrap "$T" "$mirror"
	TIMES[debootstrap]="$(secs "$STEP_T0" "$STEP_T1") s"
	[ "$STEP_RC" -eq 0 ] ||
		give_up fresh/root "debootstrap failed, exit $STEP_RC (${TIMES[debootstrap]})"
	pass "fresh/root: debootstrap $SUITE minbase -> $TARBALL (${TIMES[debootstrap]})"
	rm -rf --one-file-system "${T:?}/boot"
fi

t0=$(now)
mkdir "$R"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$R" -xpf "$TARBALL" ||
	give_up fresh/unpack "cannot unpack $TARBALL (remove it to make it again)"
# what the installer writes on a real machine (a minbase root has none)
cp /etc/resolv.conf "$R/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
# the host's apt sources, the keys they name, its network settings for apt
rm -f "$R/etc/apt/sources.list"
srcs=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && srcs+=("$f") && cp "$f" "$R$f"
done
sed -n 's/.*[Ss]igned-[Bb]y[:=] *\([^] ]*\).*/\1/p' "${srcs[@]}" | sort -u | while read -r k; do
	[ -f "$k" ] && [ ! -e "$R$k" ] && install -D -m 644 "$k" "$R$k"
done
cp -n /etc/apt/trusted.gpg.d/* "$R/etc/apt/trusted.gpg.d/" 2>/dev/null
grep -l 'Acquire::' /etc/apt/apt.conf /etc/apt/apt.conf.d/* 2>/dev/null | while read -r f; do
	cp "$f" "$R/etc/apt/apt.conf.d/"
done
mkdir -p "$R$DEST"
git -C "$TOP" archive HEAD | tar -x -C "$R$DEST" || give_up fresh/unpack "git archive HEAD failed"
touch "$R/$MARK"
TIMES[unpack]="$(secs "$t0") s"
pass "fresh/unpack: root and tree in $T (${TIMES[unpack]})"

# ---- without root and without sudo: one clear line, exit 1
out=$(chroot --userspec=65534:65534 "$R" /usr/bin/env -i PATH=/usr/bin:/bin sh -c "cd $DEST && $TEST_CMD" 2>&1)
rc=$?
if [ "$rc" = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [[ $out == *"su -c"* ]]; then
	pass "fresh/not-root: exit 1, '$out'"
else
	fail fresh/not-root "as nobody, without sudo: exit $rc, output: $(echo "$out" | head -n 3 | tr '\n' ' ')"
fi

# ---- the test command in a chroot
echo "# test command in a chroot of $R:"
step test __test "$R" "$DEST" "$TEST_CMD"
closing=$(awk '{ sub(/^[^ ]+ /, "") } /^[0-9]+ passed, [0-9]+ failed/ { l = $0 } END { print l }' "$T/test.log")
tb=$(log_time "$T/test.log" '^  (CC|BPF|SKEL|LINK) ')
ts=$(log_time "$T/test.log" '^== ')
TIMES[test]="$(secs "$STEP_T0" "$STEP_T1") s (deps ${tb:+$(secs "$STEP_T0" "$tb") s}, build ${tb:+${ts:+$(secs "$tb" "$ts") s}}, suite ${ts:+$(secs "$ts" "$STEP_T1") s})"
if [ "$STEP_RC" -eq 0 ] && [[ $closing == *" 0 failed"* ]]; then
	pass "fresh/test-command: '$TEST_CMD': $closing (${TIMES[test]})"
else
	fail fresh/test-command "'$TEST_CMD' exited $STEP_RC: ${closing:-no closing line} (${TIMES[test]})"
fi

# ---- the run command in a container (own PID and network namespaces)
rm -rf "$R$DEST/build" # a first build: its stdout must stay clean too
mkdir "$T/bpffs"
echo "# run command in a container (systemd-nspawn) of $R:"
step pidns __pidns "$T" "$DEST" "$RUN_CMD"
TIMES[pidns]="$(secs "$STEP_T0" "$STEP_T1") s"
# the checks inside printed their own lines: they count here
p=$(grep -c '^[0-9.]* PASS ' "$T/pidns.log")
f=$(grep -c '^[0-9.]* FAIL ' "$T/pidns.log")
if [ "$STEP_RC" -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then
	pass "fresh/pidns: '$RUN_CMD' in a PID namespace of its own: $p checks passed (${TIMES[pidns]})"
else
	fail fresh/pidns "'$RUN_CMD' in a PID namespace of its own: exit $STEP_RC, $p checks passed, $f failed (${TIMES[pidns]}):$(grep '^[0-9.]* FAIL ' "$T/pidns.log" | head -n 5 | cut -d' ' -f2- | sed 's/^/ /' | tr '\n' ';')"
fi

echo
echo "fresh timings: debootstrap ${TIMES[debootstrap]}, unpack ${TIMES[unpack]}, test command ${TIMES[test]}, run command in a PID namespace ${TIMES[pidns]}"
summary
[ "$nfail" -eq 0 ]
