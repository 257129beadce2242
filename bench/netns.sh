#!/usr/bin/env bash
# Cost of following many namespaces: N namespaces (default 1000), each with
# lo and a veth pair up, made before synfin starts; synfin follows them
# (--netns-named, so the machine's own namespaces are left alone). Prints
# the start-up time to "capturing" (attach of all), RSS and fds, then the
# time until all are let go of after they are deleted. Everything in
# namespaces this script creates, removed on exit.
set -uo pipefail
. "$(dirname "$0")/../tests/lib.sh"
N=${1:-1000}
PFX="synfin-t-bn$$-"
# shellcheck disable=SC2016 # expanded at cleanup
cleanup_add 'for n in $(ip netns list | awk "{print \$1}" | grep "^'"$PFX"'"); do ip netns del "$n"; done'
for ((i = 0; i < N; i++)); do
	n="$PFX$i"
	ip netns add "$n" && ip -n "$n" link set lo up &&
		ip -n "$n" link add name sfa type veth peer name sfb &&
		ip -n "$n" link set sfa up && ip -n "$n" link set sfb up || exit 1
done
rss_kib() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status; }
t0=$(date +%s%N)
"$SYNFIN" --netns-named "$PFX" --no-snapshot -i 0 -o /dev/null 2>"$TMP/err" &
pid=$!
cleanup_add "stop_pid $pid INT 30"
wait_ready "$pid" capturing "$TMP/err" "$TMP/err" || exit 1
t1=$(date +%s%N)
echo "namespaces $N: attach $(((t1 - t0) / 1000000)) ms (3 interfaces each), RSS $(rss_kib "$pid") KiB, fds $(ls /proc/$pid/fd | wc -l)"
t0=$(date +%s%N)
for ((i = 0; i < N; i++)); do ip netns del "$PFX$i"; done
t1=$(date +%s%N)
for ((k = 0; k < 600; k++)); do
	[ "$(ls /proc/$pid/fd | wc -l)" -lt 100 ] && break
	sleep 0.1
done
echo "deleted in $(((t1 - t0) / 1000000)) ms; let go of within $((($(date +%s%N) - t1) / 1000000)) ms after: RSS $(rss_kib "$pid") KiB, fds $(ls /proc/$pid/fd | wc -l)"
