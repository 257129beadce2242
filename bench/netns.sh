#!/usr/bin/env bash
# bench/netns.sh [N] [JSON]: the cost of following many namespaces (root).
#
# N namespaces (default 1000), each with lo and a veth pair up (3 interfaces
# to hook), made before synfin starts; synfin follows them (--netns-named,
# so the machine's own namespaces are left alone). Measured: synfin's RSS
# and fds with none of them (its own baseline), the start-up time to
# "capturing" (every interface of every namespace hooked), RSS and fds then,
# and, once they are all deleted, how long synfin takes to let go of them
# (fds back to within 16 of the baseline) and its RSS and fds after. Prints
# two lines; with JSON, writes the figures there too (`make bench` reads it:
# bench/report_netns.py). Exit 1 when synfin did not start, did not follow
# all N, or did not let go of them within 60 s.
#
# Safety: namespaces named synfin-t-bn<PID>-<i>, made and removed here (on
# exit too, failure included); synfin is scoped to them by name.
set -uo pipefail
. "$(dirname "$0")/../tests/lib.sh"
N=${1:-1000}
JSON=${2:-}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || { echo "bench/netns.sh: N must be a positive number" >&2; exit 2; }
PFX="synfin-t-bn$$-"
# shellcheck disable=SC2016 # expanded at cleanup
cleanup_add 'for n in $(ip netns list | awk "{print \$1}" | grep "^'"$PFX"'"); do ip netns del "$n"; done'
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rss_kib() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status; }
nfds() { ls /proc/"$1"/fd | wc -l; }
followed() { # the last stats line's netns.followed
	grep '"type":"stats"' "$1" | tail -n 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["netns"]["followed"])' 2>/dev/null
}
# start_it OUT: synfin on the namespaces named PFX*, a stats line a second
start_it() {
	"$SYNFIN" --netns-named "$PFX" --no-snapshot --no-socket -i 1 --flows none --summary-interval 0 \
		-o "$1" 2>"$1.err" &
	pid=$!
	cleanup_add "stop_pid $pid INT 30"
	wait_ready "$pid" capturing "$1.err" "$1.err"
}

# ---- synfin following none: its own baseline
start_it "$TMP/base.jsonl" || exit 1
sleep 1.2
base_rss=$(rss_kib "$pid") base_fds=$(nfds "$pid")
stop_pid "$pid" INT 30

t0=$(now_ms)
# ip -batch: one process for all the namespaces, one per namespace for
# its links, 4 at a time (a process per command took minutes for 1,000 on
# a busy machine)
for ((i = 0; i < N; i++)); do echo "netns add $PFX$i"; done | ip -b - || exit 1
seq 0 $((N - 1)) | xargs -P 4 -I{} sh -c \
	'printf "link set lo up\nlink add name sfa type veth peer name sfb\nlink set sfa up\nlink set sfb up\n" |
		ip -n "$0{}" -b -' "$PFX" || exit 1
made_ms=$(($(now_ms) - t0))

t0=$(now_ms)
start_it "$TMP/out.jsonl" || exit 1
attach_ms=$(($(now_ms) - t0))
# measured as the baseline was: a second after "capturing"
sleep 1.2
rss=$(rss_kib "$pid") fds=$(nfds "$pid") fol=$(followed "$TMP/out.jsonl")
echo "namespaces $N (made in $made_ms ms): attach $attach_ms ms (3 interfaces each), followed ${fol:-?}," \
	"RSS $rss KiB (baseline $base_rss), fds $fds (baseline $base_fds)"

t0=$(now_ms)
for ((i = 0; i < N; i++)); do echo "netns del $PFX$i"; done | ip -b -
t1=$(now_ms)
for ((k = 0; k < 600; k++)); do
	[ "$(nfds "$pid")" -le $((base_fds + 16)) ] && break
	sleep 0.1
done
release_ms=$(($(now_ms) - t1))
sleep 1.2
rss_after=$(rss_kib "$pid") fds_after=$(nfds "$pid") fol_after=$(followed "$TMP/out.jsonl")
echo "deleted in $((t1 - t0)) ms; let go of within $release_ms ms after: RSS $rss_after KiB, fds $fds_after, followed ${fol_after:-?}"
stop_pid "$pid" INT 30
rc=$?

ok=true why=""
[ "$rc" = 0 ] || { ok=false; why="synfin exited $rc"; }
[ "${fol:-0}" = "$N" ] || { ok=false; why="${why:+$why; }followed ${fol:-?} of $N"; }
[ "$fds_after" -le $((base_fds + 16)) ] || { ok=false; why="${why:+$why; }$fds_after fds after deletion (baseline $base_fds)"; }
if [ -n "$JSON" ]; then
	python3 - "$JSON" <<EOF
import json, sys
json.dump({"namespaces": $N, "interfaces_each": 3, "made_ms": $made_ms, "attach_ms": $attach_ms,
           "followed": ${fol:-None}, "baseline_rss_kib": $base_rss, "baseline_fds": $base_fds,
           "rss_kib": $rss, "fds": $fds, "deleted_ms": $((t1 - t0)), "release_ms": $release_ms,
           "followed_after": ${fol_after:-None}, "rss_after_kib": $rss_after, "fds_after": $fds_after,
           "ok": $($ok && echo True || echo False), "error": "$why" or None}, open(sys.argv[1], "w"), indent=1)
EOF
fi
$ok || { echo "bench/netns.sh: $why" >&2; exit 1; }
exit 0
