#!/usr/bin/env bash
# synfin as a service under a real systemd. The Debian package (make deb,
# lintian-clean) is installed with dpkg -i into a container that
# systemd-nspawn boots (systemd as its PID 1, a network namespace of its
# own) on a copy-on-write overlay of this machine's root. Then: the unit
# is 'activating' until READY=1 and its hooks are attached when it turns
# active; traffic inside gives records; STATUS= shows in systemctl status;
# the hardening holds as seen from inside; reload reopens the output; stop
# leaves no hook; a watchdog miss (SIGSTOP) restarts it. The container,
# its mounts, the cgroups it ran in and every process go on exit, failure
# included.
set -uo pipefail
shopt -s extglob
. "$(dirname "$0")/../lib.sh"
need_root systemd
need_tools systemd systemctl systemd-nspawn nsenter findmnt dpkg-buildpackage lintian bpftool python3

# capabilities the unit grants, as /proc/PID/status shows them: CAP_BPF 39,
# CAP_PERFMON 38, CAP_SYS_ADMIN 21, CAP_SYS_PTRACE 19, CAP_NET_ADMIN 12,
# CAP_DAC_READ_SEARCH 2
CAPS_WANT=000000c000281004
# `systemd-analyze security` must not get worse than this (docs/service.md)
EXPOSURE_MAX=2.2

t0=$(date +%s%N)
lap() { echo "$(( ($(date +%s%N) - t0) / 1000000 ))"; }
timings=()
mark() { timings+=("$1 $(lap) ms"); }

# ---- the package (make deb also runs lintian on it) ---------------------
# the unit/replay/CLI tests ran already (tests/run.sh): not again in here
if ! out=$(DEB_BUILD_OPTIONS=nocheck make -C "$TOP" --no-print-directory deb 2>&1); then
	fail systemd/deb-build "$(tail -n 5 <<<"$out" | tr '\n' ' ')"
	exit 1
fi
deb=$(ls "$TOP"/build/deb/synfin_*.deb 2>/dev/null | head -n 1)
[ -f "$deb" ] && pass systemd/deb-build || { fail systemd/deb-build "no .deb in build/deb"; exit 1; }
mark built

# ---- the container's root: an overlay of ours, writes go to a tmpfs ----
CT=$(mktemp -d /tmp/synfin-ct.XXXXXX)
# after everything in it is unmounted the directory is empty: rmdir, never
# rm -r (an overlay of / must not be walked through)
cleanup_add "rmdir '$CT'"
mount -t tmpfs -o mode=0755,size=512m synfin-ct "$CT" || { fail systemd/root "tmpfs on $CT"; exit 1; }
cleanup_add "umount '$CT' || umount -l '$CT'"
mkdir "$CT/upper" "$CT/work" "$CT/root" "$CT/bpffs"
mount -t overlay synfin-ct-root -o "lowerdir=/,upperdir=$CT/upper,workdir=$CT/work" "$CT/root" ||
	{ fail systemd/root "overlay of / on $CT/root"; exit 1; }
cleanup_add "umount '$CT/root' || umount -l '$CT/root'"
mount -t bpf bpf "$CT/bpffs" || { fail systemd/root "bpffs"; exit 1; }
cleanup_add "umount '$CT/bpffs'"
R=$CT/root
# a fresh machine: none of this host's enabled services, its own
# machine-id, and services may start from dpkg (no Docker policy-rc.d)
rm -f "$R"/etc/systemd/system/*.wants/* "$R/usr/sbin/policy-rc.d"
: >"$R/etc/machine-id"
cp "$deb" "$R/root/synfin.deb"
cp "$TCPCTL" "$R/root/tcpctl"

# ---- cgroups of our own: nspawn and the container's systemd create theirs
# below them (and leave some behind), all removed on exit ----------------
cg_dirs=()
cg_remove() {
	local d i
	for d in "$@"; do
		for i in $(seq 50); do
			[ -d "$d" ] || break
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
			sleep 0.1
		done
	done
}
# cg_mount FSTYPE OPTION: where that hierarchy is mounted
cg_mount() {
	findmnt -rn -t "$1" -o TARGET,OPTIONS | awk -v o="$2" 'o == "" || index("," $2 ",", "," o ",") { print $1; exit }'
}
while IFS=: read -r _ ctrl path; do
	case "$ctrl" in
	"") mnt=$(cg_mount cgroup2 "") ;;
	name=systemd | memory) mnt=$(cg_mount cgroup "$ctrl") ;;
	*) continue ;;
	esac
	[ -n "$mnt" ] || continue
	d="${mnt%/}${path%/}/synfin-ct-$$"
	mkdir "$d" || { fail systemd/cgroup "mkdir $d"; exit 1; }
	cg_dirs+=("$d")
done </proc/self/cgroup
cleanup_add "cg_remove ${cg_dirs[*]}"

# ---- boot -------------------------------------------------------------
# MemoryMax= needs the memory controller writable inside (cgroup v1 hosts);
# bpf() needs the seccomp allowance; a private bpffs like a real host's
(
	for d in "${cg_dirs[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
	exec systemd-nspawn -q -D "$R" --private-network --register=no --keep-unit \
		--machine="synfin-ct-$$" --kill-signal=SIGRTMIN+3 \
		--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN --system-call-filter='bpf perf_event_open' \
		--bind="$CT/bpffs:/sys/fs/bpf" \
		/bin/sh -c 'mount -o remount,bind,rw /sys/fs/cgroup/memory 2>/dev/null; exec /lib/systemd/systemd'
) </dev/null >"$CT/nspawn.log" 2>&1 &
NSPAWN=$!
# a clean shutdown first; what is left after 10 s is killed by pid
ct_stop() {
	local i p d
	[ -n "$NSPAWN" ] || return 0
	kill -TERM "$NSPAWN" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$NSPAWN" 2>/dev/null || break
		sleep 0.1
	done
	for d in "${cg_dirs[@]}"; do
		for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	wait "$NSPAWN" 2>/dev/null
	NSPAWN=
}
cleanup_add ct_stop

P1=
for i in $(seq 200); do
	P1=$(pgrep -P "$NSPAWN" | head -n 1)
	[ -n "$P1" ] && [ "$(cat "/proc/$P1/comm" 2>/dev/null)" = systemd ] && break
	P1=
	kill -0 "$NSPAWN" 2>/dev/null || break
	sleep 0.05
done
if [ -z "$P1" ]; then
	fail systemd/boot "no systemd in the container: $(tail -n 5 "$CT/nspawn.log" | tr '\n' ' ')"
	exit 1
fi
# -r -w: its root and directory, not the mount namespace's root: nspawn started
# from a chroot (tests/fresh) cannot pivot_root, it moves the root and chroots
ct() { nsenter -t "$P1" -a -r -w -- "$@"; }
# until its manager answers and has finished booting (30 s at most);
# 'offline' too is only "not yet": systemd has just been exec'd and has not
# made /run/systemd/system (seen on a busy machine)
for i in $(seq 300); do
	state=$(ct systemctl is-system-running 2>/dev/null)
	case "$state" in running | degraded | maintenance | stopping) break ;; esac
	sleep 0.1
done
if [ "$state" = running ] || [ "$state" = degraded ]; then
	pass systemd/boot
else
	fail systemd/boot "system state '$state': $(ct systemctl --failed --no-legend 2>&1 | tr '\n' ' ')"
	exit 1
fi
mark booted
# a real host mounts tracefs at boot (sys-kernel-tracing.mount); systemd
# skips that in a container (no CAP_SYS_RAWIO): mount it as it would
ct mount -t tracefs -o nosuid,nodev,noexec tracefs /sys/kernel/tracing

# unit state as "ActiveState SubState MainPID NRestarts Result"
unit() {
	ct systemctl show -p ActiveState,SubState,MainPID,NRestarts,Result synfin |
		awk -F= '{ v[$1] = $2 } END { print v["ActiveState"], v["SubState"], v["MainPID"], v["NRestarts"], v["Result"] }'
}
# sf_ filters attached in the container's namespace
hooks() { ct bpftool -j net show 2>/dev/null | python3 -c '
import json, sys
print(sum(1 for d in json.load(sys.stdin) for t in d.get("tc", []) if t.get("name", "").startswith("sf_")))'; }
# flow_with_port FILE PORT SECS: a flow record with PORT at either end
flow_with_port() {
	local i
	for i in $(seq $(($3 * 10))); do
		ct cat "$1" 2>/dev/null | grep '"type":"flow"' | grep -q "\"port\":$2[,}]" && return 0
		sleep 0.1
	done
	return 1
}
# what the output has, for a failure message
out_summary() {
	ct cat /var/log/synfin/flows.jsonl 2>/dev/null | python3 -c '
import collections, json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
n = collections.Counter(r["type"] for r in recs)
st = [r for r in recs if r["type"] == "stats"]
ports = sorted({r[e]["port"] for r in recs if r["type"] == "flow" for e in ("local", "peer") if e in r})
print("records %s, flow ports %s, last stats events %s" % (dict(n), ports[:20], st[-1].get("events") if st else None))'
}
# traffic: one connection inside the container; prints its client port
# if it went through (what tcpctl said: $TMP/tcpctl.out)
traffic() {
	ct timeout 20 /root/tcpctl client-first >"$TMP/tcpctl.out" 2>&1
	sed -n 's/.* client=[^ ]*:\([0-9]*\) .*result=ok$/\1/p' "$TMP/tcpctl.out"
}
# wait_unit SECS PATTERN: until unit() matches PATTERN (a bash glob)
wait_unit() {
	local i
	for i in $(seq $(($1 * 20))); do
		# shellcheck disable=SC2053 # a glob on purpose
		[[ "$(unit)" == $2 ]] && return 0
		sleep 0.05
	done
	return 1
}

# ---- install: dpkg -i gives an enabled, running service ----------------
if out=$(ct env DEBIAN_FRONTEND=noninteractive dpkg -i /root/synfin.deb 2>&1); then
	pass systemd/dpkg-install
else
	fail systemd/dpkg-install "$(tail -n 5 <<<"$out" | tr '\n' ' ')"
	exit 1
fi
st=$(unit)
if [[ "$st" == "active running "* ]] && [ "$(ct systemctl is-enabled synfin)" = enabled ]; then
	pass systemd/dpkg-starts-service
else
	fail systemd/dpkg-starts-service "after dpkg -i: $st, $(ct systemctl is-enabled synfin)"
fi
mark installed
# the installed unit as systemd sees it (man page and binary included)
check systemd/analyze-verify ct systemd-analyze verify synfin.service
score=$(ct systemd-analyze security synfin.service --no-pager 2>/dev/null |
	sed -n 's/.*Overall exposure level for synfin.service: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && python3 -c "import sys; sys.exit(not float('$score') <= $EXPOSURE_MAX)"; then
	pass systemd/analyze-security
else
	fail systemd/analyze-security "exposure '$score', at most $EXPOSURE_MAX"
fi
echo "systemd-analyze security synfin.service: exposure $score" >&2

# test settings, through /etc/default/synfin as an admin would: stats
# every second, and only the container's own namespace (the tracepoints
# see every namespace of the host, where others may run a connection
# storm right now); a 3 s watchdog (the unit says 30 s). What the
# service started by dpkg wrote goes.
ct systemctl stop synfin
ct rm -f /var/log/synfin/flows.jsonl
echo 'SYNFIN_OPTS="--stats-interval 1 --netns /proc/1/ns/net"' >"$R/etc/default/synfin"
mkdir -p "$R/etc/systemd/system/synfin.service.d"
printf '[Service]\nWatchdogSec=3s\n' >"$R/etc/systemd/system/synfin.service.d/test.conf"
ct systemctl daemon-reload

# ---- start: activating until READY=1, hooks attached by then ----------
ct systemctl start --no-block synfin
seen=" " hooks_at_active=
for i in $(seq 400); do
	st=$(unit)
	case "$st" in
	"activating "*) [[ "$seen" == *" activating "* ]] || seen+="activating " ;;
	"active "*)
		hooks_at_active=$(hooks)
		seen+="active "
		break
		;;
	"failed "*) break ;;
	esac
	sleep 0.025
done
if [ "$seen" = " activating active " ]; then
	pass systemd/start-activating-then-active
else
	fail systemd/start-activating-then-active "states seen:$seen, last: $st"
fi
if [ "${hooks_at_active:-0}" -ge 1 ]; then
	pass systemd/ready-after-hooks
else
	fail systemd/ready-after-hooks "active with ${hooks_at_active:-no} tc hooks attached"
fi
mark started
MAIN=$(ct systemctl show -p MainPID --value synfin)
ready_ms=$(ct systemctl show -p ExecMainStartTimestampMonotonic,ActiveEnterTimestampMonotonic synfin |
	awk -F= '{ v[$1] = $2 } END { printf "%d", (v["ActiveEnterTimestampMonotonic"] - v["ExecMainStartTimestampMonotonic"]) / 1000 }')
echo "synfin.service: READY=1 ${ready_ms} ms after exec" >&2

# ---- records, journal, status -----------------------------------------
port=$(traffic)
if [ -n "$port" ] && flow_with_port /var/log/synfin/flows.jsonl "$port" 10; then
	pass systemd/records-in-output
else
	fail systemd/records-in-output "no flow record for port '${port:-?}' in /var/log/synfin/flows.jsonl: $(out_summary); tcpctl: $(tr '\n' ' ' <"$TMP/tcpctl.out")"
fi
if ct timeout 5 sh -c 'until grep -q "\"type\":\"stats\"" /var/log/synfin/flows.jsonl; do sleep 0.1; done'; then
	pass systemd/stats-from-default-file
else
	fail systemd/stats-from-default-file "no stats record with SYNFIN_OPTS=\"--stats-interval 1 ...\""
fi
check systemd/journal ct sh -c 'journalctl -u synfin -o cat --no-pager | grep -q "^synfin: capturing"'
# the unit's Nice=-5 (the daemon's own setpriority() is filtered out there)
check systemd/nice-minus-5 ct sh -c "test \"\$(awk '{ print \$19 }' /proc/$MAIN/stat)\" = -5"
status=$(ct systemctl show -p StatusText --value synfin)
if [[ "$status" =~ ^[0-9]+\ flows\ open,\ [0-9]+\ events/s,\ [0-9]+\ lost$ ]] &&
	ct systemctl status synfin --no-pager 2>/dev/null | grep -qF "Status: \"$status\""; then
	pass systemd/status-text
else
	fail systemd/status-text "StatusText '$status'"
fi
mark records

# ---- hardening, from inside ---------------------------------------------
ps=$(ct cat "/proc/$MAIN/status")
field() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$ps"; }
if [ "$(field CapEff)" = "$CAPS_WANT" ] && [ "$(field CapBnd)" = "$CAPS_WANT" ]; then
	pass systemd/capabilities
else
	fail systemd/capabilities "CapEff $(field CapEff) CapBnd $(field CapBnd), want $CAPS_WANT"
fi
if [ "$(field NoNewPrivs)" = 1 ] && [ "$(field Seccomp)" = 2 ] && [ "$(field Uid)" != 0 ]; then
	pass systemd/nonewprivs-seccomp-user
else
	fail systemd/nonewprivs-seccomp-user "NoNewPrivs $(field NoNewPrivs), Seccomp $(field Seccomp), Uid $(field Uid)"
fi
# in the service's own mount namespace: what is read-only for it
svc() { ct nsenter -t "$MAIN" -m -r -w -- "$@"; } # -r -w: see ct()
ro=$(svc sh -c 'for p in /usr /etc /var/lib; do touch "$p/.synfin-probe" 2>/dev/null && echo "$p writable"; done
	touch /var/log/synfin/.probe && rm /var/log/synfin/.probe || echo "/var/log/synfin not writable"')
if [ -z "$ro" ]; then
	pass systemd/read-only-system
else
	fail systemd/read-only-system "$ro"
fi
if [ "$(svc stat -c %i /tmp)" != "$(ct stat -c %i /tmp)" ]; then
	pass systemd/private-tmp
else
	fail systemd/private-tmp "the service sees the container's /tmp"
fi
limit=$(ct sh -c 'cat /sys/fs/cgroup/memory/system.slice/synfin.service/memory.limit_in_bytes 2>/dev/null ||
	cat /sys/fs/cgroup/system.slice/synfin.service/memory.max')
if [ "$limit" = "$(ct systemctl show -p MemoryMax --value synfin)" ]; then
	pass systemd/memory-max
else
	fail systemd/memory-max "cgroup limit '$limit', unit $(ct systemctl show -p MemoryMax --value synfin)"
fi
echo "synfin.service memory: $(ct systemctl show -p MemoryCurrent --value synfin) bytes" >&2
mark hardening

# ---- reload: the old file renamed, records go on in a new one ---------
ct mv /var/log/synfin/flows.jsonl /var/log/synfin/flows.jsonl.1
ct systemctl reload synfin
# until the output is reopened (a new file, with a stats record within the
# second) or the service is gone; 5 s at most
for i in $(seq 100); do
	ct test -s /var/log/synfin/flows.jsonl && break
	[[ "$(unit)" == @(inactive|failed)\ * ]] && break
	sleep 0.05
done
st=$(unit)
if wait_unit 5 "active running $MAIN *" && port=$(traffic) && [ -n "$port" ] &&
	flow_with_port /var/log/synfin/flows.jsonl "$port" 10; then
	pass systemd/reload-reopens-output
else
	fail systemd/reload-reopens-output "after reload: $st (main pid was $MAIN); new file: $(ct wc -l /var/log/synfin/flows.jsonl 2>&1)"
fi
mark reload

# ---- stop: clean exit, no hook and no qdisc of ours left --------------
ct systemctl stop synfin
st=$(unit)
if [[ "$st" == "inactive dead "*" success" ]]; then
	pass systemd/stop-clean
else
	fail systemd/stop-clean "after stop: $st"
fi
n=$(hooks)
if [ "$n" = 0 ]; then
	pass systemd/stop-no-hook
else
	fail systemd/stop-no-hook "$n sf_ filters left: $(ct bpftool net show 2>&1 | tr '\n' ' ')"
fi
if ! ct tc qdisc show dev lo | grep -q clsact; then
	pass systemd/stop-no-qdisc
else
	fail systemd/stop-no-qdisc "clsact left on lo"
fi
mark stopped

# ---- watchdog: a stopped main loop gets the service restarted ---------
ct systemctl start synfin
MAIN=$(ct systemctl show -p MainPID --value synfin)
ct kill -STOP "$MAIN"
# 3 s watchdog, then SIGABRT, 1 s RestartSec, start
if wait_unit 15 "active running * [1-9]* *" && [ "$(ct systemctl show -p MainPID --value synfin)" != "$MAIN" ] &&
	ct sh -c 'journalctl -u synfin --no-pager -o cat | grep -q "Watchdog timeout"'; then
	pass systemd/watchdog-restarts
else
	fail systemd/watchdog-restarts "after SIGSTOP of $MAIN: $(unit)"
fi
# the killed run's filter was removed by the new one: one set, not two
n=$(hooks)
if [ "$n" = "$hooks_at_active" ]; then
	pass systemd/restart-no-leftover-hook
else
	fail systemd/restart-no-leftover-hook "$n sf_ filters after the restart, $hooks_at_active before"
fi
port=$(traffic)
if [ -n "$port" ] && flow_with_port /var/log/synfin/flows.jsonl "$port" 10; then
	pass systemd/records-after-restart
else
	fail systemd/records-after-restart "no flow record for port '${port:-?}' after the restart: $(out_summary); tcpctl: $(tr '\n' ' ' <"$TMP/tcpctl.out")"
fi
mark watchdog
# for the docs: systemctl status as it looks in the container, once a
# status line covered some traffic
if [ -n "${SYNFIN_SHOW_STATUS:-}" ]; then
	for i in $(seq 20); do traffic >/dev/null; done
	sleep 5.5
	ct systemctl status synfin --no-pager >&2
fi

ct_stop
mark "container stopped"
echo "systemd timings (ms since start): ${timings[*]}" >&2
exit "$_failed"
