#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#
# bench/run.sh: the synfin benchmark (`make bench`; root).
#
# Rounds of loopback connection storms (build/storm), one per traffic shape
# (BENCH_SHAPES):
#   plain      no payload, the server closes first
#   http       100 B request, 1 KiB response, the server closes first
#   client     no payload, the client closes first
#   ipv6       plain over ::1
# and per shape every observer, alternating in the same run, the order
# rotated every round:
#   baseline   no observer
#   synfin     the default, host-wide: every namespace's state events (no
#              --netns); its packet hooks follow the bench's namespaces
#              only (--netns-named), the root namespace is never touched
#   scoped     synfin --netns (the bench's namespace only)
#   tcpstates  libbpf-tools, output to a file   (when libbpf-tools is installed)
#   tcplife    libbpf-tools, output to a file   (idem)
#   synfin-floor  build/floor/synfin (make bench builds it): synfin's
#              programs attached the same way, cut to one ring record (a
#              timestamp) per event and nothing else (per state change,
#              reset, retransmit, SYN, FIN or RST; accept and destroy do
#              nothing, the backup copy still checks), which the daemon
#              reads and drops:
#              the cost of any design that sends a record per transition
#              and per control segment before it does anything (the
#              first shape only, to keep the run short: BENCH_FLOOR=all
#              in every shape, 0 in none)
# then, unless --quick, a hold test: synfin (scoped) while ~100k flows are
# open.
#
# Per run: conn/s, the storm's own CPU (its threads and the loopback's
# softirq work), events seen and lost, BPF ns per program run (BPF
# run-time statistics, enabled with BPF_ENABLE_STATS for the benchmark's
# lifetime: no sysctl is changed, or, when that syscall is refused, the
# kernel.bpf_stats_enabled sysctl is set and restored on exit), observer CPU
# and bytes written per connection, peak RSS. Per shape: medians over rounds,
# ratios to the baseline of the same round, and the added CPU per connection
# (BPF + observer process) / the baseline's CPU per connection; to
# build/bench/results.md and results.json.
#
# Exit status: 0 ran; 1 synfin lost events, produced no flow records or a run
# failed; 2 bad arguments. Never non-zero because of speed: the targets are
# reported, not enforced.
#
# Environment: BENCH_QUICK=1 (= --quick: 1 round of 2 s, plain shape,
# baseline, synfin and the floor only, no hold test; for `make test`), BENCH_ROUNDS (3),
# BENCH_DURATION (2 s per run), BENCH_SHAPES ("plain http client ipv6"),
# BENCH_BCC (auto|0|1; default auto, 0 in quick mode), BENCH_HOLD_CONNS
# (50000 connections = 100k sockets; 0 skips the hold test), BENCH_BPF_STATS
# (1; 0 leaves BPF statistics off), BENCH_FLOOR (1|all|0), BENCH_NETNS (1000 namespaces for
# bench/netns.sh; 0 skips it, 0 in quick mode), BENCH_OUT (build/bench).
#
# Safety: everything runs inside a network namespace created here
# (synfin-bench-PID; the hold test gets a fresh one) and deleted on exit: storm only ever targets that
# namespace's loopback, synfin attaches its packet hooks only there, so the
# root namespace's interfaces and qdiscs are never touched. Every process is
# started here and ended here by pid (also from the EXIT trap); every step is
# bounded in time.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
SYNFIN=$BUILD/synfin
FLOOR=$BUILD/floor/synfin
STORM=$BUILD/storm
OUT=${BENCH_OUT:-$BUILD/bench}
WORK=$OUT/work
BPFTOOL=$(command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
TCPSTATES=/usr/sbin/tcpstates
TCPLIFE=/usr/sbin/tcplife

usage() {
	sed -n '3,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

QUICK=${BENCH_QUICK:-0}
SMOKE_RING=
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench: unknown argument '$a' (try --help)" >&2; exit 2 ;;
	esac
done
[ "$QUICK" = 0 ] || QUICK=1
[ "$QUICK" = 1 ] && SMOKE_RING=32

if [ "$QUICK" = 1 ]; then
	ROUNDS=${BENCH_ROUNDS:-1}
	DURATION=${BENCH_DURATION:-2}
	SHAPES=${BENCH_SHAPES:-plain}
	HOLD_CONNS=${BENCH_HOLD_CONNS:-0}
	BCC=${BENCH_BCC:-0}
else
	ROUNDS=${BENCH_ROUNDS:-3}
	DURATION=${BENCH_DURATION:-2}
	SHAPES=${BENCH_SHAPES:-plain http client ipv6}
	HOLD_CONNS=${BENCH_HOLD_CONNS:-50000}
	BCC=${BENCH_BCC:-auto}
fi
BPF_STATS=${BENCH_BPF_STATS:-1}

isnum() { [[ $1 =~ ^[0-9]+$ ]]; }
isnum "$ROUNDS" && [ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] ||
	{ echo "bench: BENCH_ROUNDS must be 1..20" >&2; exit 2; }
isnum "$DURATION" && [ "$DURATION" -ge 1 ] && [ "$DURATION" -le 60 ] ||
	{ echo "bench: BENCH_DURATION must be 1..60 (seconds)" >&2; exit 2; }
isnum "$HOLD_CONNS" && [ "$HOLD_CONNS" -le 100000 ] ||
	{ echo "bench: BENCH_HOLD_CONNS must be 0..100000" >&2; exit 2; }
case $BCC in auto | 0 | 1) ;; *) echo "bench: BENCH_BCC must be auto, 0 or 1" >&2; exit 2 ;; esac
FLOOR_ON=${BENCH_FLOOR:-1}
case $FLOOR_ON in 0 | 1 | all) ;; *) echo "bench: BENCH_FLOOR must be 1, all or 0" >&2; exit 2 ;; esac

# shape_args SHAPE: the storm's arguments for a traffic shape
shape_args() {
	case $1 in
	plain) echo "--payload 0" ;;
	http) echo "--payload 100 --response 1024" ;;
	client) echo "--payload 0 --close client" ;;
	ipv6) echo "--payload 0 --addr ::1" ;;
	*) return 1 ;;
	esac
}
read -r -a SHAPE_LIST <<<"$SHAPES"
[ ${#SHAPE_LIST[@]} -ge 1 ] || { echo "bench: BENCH_SHAPES is empty" >&2; exit 2; }
for sh in "${SHAPE_LIST[@]}"; do
	shape_args "$sh" >/dev/null ||
		{ echo "bench: unknown shape '$sh' in BENCH_SHAPES (plain http client ipv6)" >&2; exit 2; }
done

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (BPF); run: sudo make bench"
for f in "$SYNFIN" "$STORM"; do
	[ -x "$f" ] || die "$f is missing: run make first"
done
for t in jq python3 "$BPFTOOL" timeout unshare ip; do
	command -v "$t" >/dev/null 2>&1 || die "$t is missing (scripts/install-deps.sh installs it)"
done

HAVE_BCC=0
if [ -x "$TCPSTATES" ] && [ -x "$TCPLIFE" ]; then HAVE_BCC=1; fi
case $BCC in
auto) USE_BCC=$HAVE_BCC ;;
1) [ "$HAVE_BCC" = 1 ] || die "BENCH_BCC=1 but libbpf-tools ($TCPSTATES, $TCPLIFE) is not installed"; USE_BCC=1 ;;
0) USE_BCC=0 ;;
esac

CONFIGS=(baseline synfin)
[ "$QUICK" = 1 ] || CONFIGS+=(scoped)
[ "$USE_BCC" = 1 ] && CONFIGS+=(tcpstates tcplife)
if [ "$FLOOR_ON" != 0 ]; then
	[ -x "$FLOOR" ] || die "$FLOOR is missing: run make build/floor/synfin (make bench does)"
	CONFIGS+=(synfin-floor)
fi
# A/B: a second synfin build measured side by side (developers)
SYNFIN_B=${BENCH_SYNFIN_B:-}
if [ -n "$SYNFIN_B" ]; then
	[ -x "$SYNFIN_B" ] || die "BENCH_SYNFIN_B=$SYNFIN_B is not executable"
	CONFIGS+=(synfin-b)
fi
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- cleanup
# Pids of the children started here and not yet reaped. An unreaped child
# keeps its pid (at worst as a zombie), so signalling these never hits
# another process.
declare -A LIVE=()
SYSCTL_SAVED=""
NS=""
STATS_PID=""

track() { LIVE[$1]=1; }

reap() { # pid -> exit status of the child (already gone or going)
	local rc=0
	wait "$1" 2>/dev/null || rc=$?
	unset "LIVE[$1]"
	return $rc
}

alive() { # true while the child runs (false once it is a zombie)
	local st
	st=$(awk '{sub(/^.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# stop_child PID SIGNAL TIMEOUT_S: signal, wait up to TIMEOUT_S, then SIGKILL.
# Returns the child's exit status.
stop_child() {
	local pid=$1 sig=$2 t=$3 i
	[ -n "${LIVE[$pid]:-}" ] || return 0
	kill -s "$sig" "$pid" 2>/dev/null
	for ((i = 0; i < t * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		log "pid $pid did not stop on SIG$sig within ${t}s: killing it"
		kill -s KILL "$pid" 2>/dev/null
	fi
	reap "$pid"
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${!LIVE[@]}"; do
		kill -s TERM "$pid" 2>/dev/null
	done
	for pid in "${!LIVE[@]}"; do
		stop_child "$pid" TERM 5 >/dev/null 2>&1
	done
	if [ -n "$SYSCTL_SAVED" ]; then
		echo "$SYSCTL_SAVED" >/proc/sys/kernel/bpf_stats_enabled ||
			log "could not restore kernel.bpf_stats_enabled=$SYSCTL_SAVED"
	fi
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	# the capture files are large; the results stay
	rm -f "$WORK"/*.jsonl "$WORK"/*.out 2>/dev/null
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

mkdir -p "$WORK" || die "cannot create $WORK"

# the bench's own network namespace: loopback only
NS=synfin-bench-$$
ip netns add "$NS" || { NS=""; die "ip netns add failed"; }
ip -n "$NS" link set lo up || die "cannot bring up lo in $NS"
IN_NS=(ip netns exec "$NS")
rm -f "$WORK"/* "$OUT/runs.jsonl" "$OUT/hold.json" "$OUT/packet.json" "$OUT/results.json" "$OUT/results.md"
RUNS=$OUT/runs.jsonl
: >"$RUNS"

# ---------------------------------------------------------------- BPF stats
STATS_METHOD=off
enable_bpf_stats() {
	local i
	[ "$BPF_STATS" = 1 ] || return 0
	python3 "$ROOT/bench/bpf_stats.py" >"$WORK/bpf_stats.log" 2>&1 &
	STATS_PID=$!
	track "$STATS_PID"
	for ((i = 0; i < 50; i++)); do
		grep -q '^enabled' "$WORK/bpf_stats.log" 2>/dev/null && { STATS_METHOD=BPF_ENABLE_STATS; return 0; }
		alive "$STATS_PID" || break
		sleep 0.1
	done
	log "BPF_ENABLE_STATS failed ($(cat "$WORK/bpf_stats.log" 2>/dev/null)); using the sysctl, restored on exit"
	stop_child "$STATS_PID" TERM 2 >/dev/null 2>&1
	STATS_PID=""
	SYSCTL_SAVED=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null) || { SYSCTL_SAVED=""; return 0; }
	if echo 1 >/proc/sys/kernel/bpf_stats_enabled; then
		STATS_METHOD=sysctl
	else
		SYSCTL_SAVED=""
		log "cannot enable BPF statistics: BPF ns per run will be missing"
	fi
}

# ---------------------------------------------------------------- probes
cpu_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# BPF programs a process holds: [{id,name,run_time_ns,run_cnt}] (fdinfo of
# its prog and link fds name the program ids)
bpf_progs_of() {
	local ids
	ids=$(grep -h '^prog_id:' "/proc/$1/fdinfo/"* 2>/dev/null | awk '{print $2}' | sort -un | paste -sd, -)
	[ -n "$ids" ] || { echo '[]'; return; }
	"$BPFTOOL" prog show -j 2>/dev/null | jq -c --argjson ids "[$ids]" \
		'[.[] | select(.id as $i | $ids | index($i)) |
		  {id, name, run_time_ns: (.run_time_ns // 0), run_cnt: (.run_cnt // 0)}]' 2>/dev/null || echo '[]'
}

# wait_ready CONFIG PID ERRFILE: until the observer is attached (max 20 s)
wait_ready() {
	local cfg=$1 pid=$2 err=$3 i
	for ((i = 0; i < 200; i++)); do
		alive "$pid" || return 1
		case $cfg in
		synfin* | scoped) grep -q 'synfin: capturing' "$err" 2>/dev/null && return 0 ;;
		*) "$BPFTOOL" perf show -j 2>/dev/null |
			jq -e --argjson p "$pid" 'any(.[]; .pid == $p)' >/dev/null 2>&1 && return 0 ;;
		esac
		sleep 0.1
	done
	return 1
}

# start_observer CONFIG OUTFILE ERRFILE [synfin args...]: sets OBS_PID
start_observer() {
	local cfg=$1 out=$2 err=$3
	shift 3
	case $cfg in
	synfin | synfin-b | synfin-floor)
		local bin=$SYNFIN
		[ "$cfg" = synfin-b ] && bin=$SYNFIN_B
		[ "$cfg" = synfin-floor ] && bin=$FLOOR
		# host-wide, as users run it: no --netns (state events of
		# every namespace); the packet hooks follow namespaces by
		# name, so only the bench's get them
		"$bin" --netns-named "$NS" -o "$out" "$@" 2>"$err" &
		;;
	scoped)
		"$SYNFIN" --netns "/var/run/netns/$NS" -o "$out" "$@" 2>"$err" &
		;;
	tcpstates | tcplife)
		# classic tracepoints need tracefs: the host's, or a private
		# mount where it has none; the script execs, so the pid is the
		# tool's
		"$ROOT/scripts/with-tracefs.sh" "/usr/sbin/$cfg" >"$out" 2>"$err" &
		;;
	esac
	OBS_PID=$!
	track "$OBS_PID"
	if ! wait_ready "$cfg" "$OBS_PID" "$err"; then
		log "$cfg did not start: $(tail -n 3 "$err" 2>/dev/null | tr '\n' ' ')"
		stop_child "$OBS_PID" INT 5 >/dev/null 2>&1
		OBS_PID=""
		return 1
	fi
	# perf buffers / ring buffer consumers are set up right after attach
	sleep 0.5
	return 0
}

# last_stats FILE: synfin's last complete stats line
last_stats() {
	tail -n 200 "$1" 2>/dev/null | grep '"type":"stats"' |
		while IFS= read -r l; do jq -ce . <<<"$l" 2>/dev/null; done | tail -n 1
}

# ---------------------------------------------------------------- one run
# is_synfin CONFIG: one of synfin's configurations
is_synfin() { case $1 in synfin* | scoped) return 0 ;; esac; return 1; }

# run_one ROUND INDEX SHAPE CONFIG: one storm of SHAPE under CONFIG; appends
# a JSON line to $RUNS
run_one() {
	local round=$1 idx=$2 shape=$3 cfg=$4
	local -a sargs
	local out=$WORK/$cfg.out err=$WORK/$cfg.err storm_out=$WORK/storm.json
	local ok=true why="" pid="" t0=0 t1=0 hwm=0 rss=0 p0='[]' p1='[]' st='null'
	local seen=null lost=null emitted=null storm_rc=0 obs_rc=0 storm fbytes=null obytes=null

	rm -f "$out" "$err" "$storm_out"
	read -r -a sargs <<<"$(shape_args "$shape")"
	is_synfin "$cfg" && out=$WORK/$cfg.jsonl && rm -f "$out"
	if [ "$cfg" != baseline ]; then
		if is_synfin "$cfg"; then
			# the smoke run (make test) checks the pipeline end to end on
			# machines that may be busy: a ring with room for scheduling
			# hiccups; the benchmark proper measures the defaults
			start_observer "$cfg" "$out" "$err" -i 0 ${SMOKE_RING:+--ring-mb "$SMOKE_RING"}
		else
			start_observer "$cfg" "$out" "$err"
		fi || { ok=false; why="observer did not start"; }
		pid=${OBS_PID:-}
		# e.g. another synfin on the machine holds the packet hooks of
		# this namespace: a run without segments measures something else
		if $ok && is_synfin "$cfg" && grep -q 'DEGRADED' "$err" 2>/dev/null; then
			ok=false
			why="$(grep -m 1 'DEGRADED' "$err")"
		fi
	fi
	if [ -n "$pid" ]; then
		t0=$(cpu_ticks "$pid")
		p0=$(bpf_progs_of "$pid")
	fi

	if $ok; then
		timeout -s INT -k 10 $((DURATION + 60)) \
			"${IN_NS[@]}" "$STORM" --duration "$DURATION" "${sargs[@]}" --json >"$storm_out" 2>"$WORK/storm.err" || storm_rc=$?
	fi
	storm=$(tail -n 1 "$storm_out" 2>/dev/null | jq -ce . 2>/dev/null) || storm=""
	if $ok && { [ "$storm_rc" != 0 ] || [ -z "$storm" ]; }; then
		ok=false
		why="storm failed (exit $storm_rc): $(tail -n 2 "$WORK/storm.err" 2>/dev/null | tr '\n' ' ')"
	fi
	[ -n "$storm" ] || storm='null'

	if [ -n "$pid" ]; then
		t1=$(cpu_ticks "$pid")
		p1=$(bpf_progs_of "$pid")
		hwm=$(status_kb "$pid" VmHWM)
		rss=$(status_kb "$pid" VmRSS)
		stop_child "$pid" INT 30 || obs_rc=$?
		if [ "$obs_rc" != 0 ]; then
			ok=false
			why="$cfg exited with status $obs_rc: $(tail -n 2 "$err" 2>/dev/null | tr '\n' ' ')"
		fi
		# what the observer wrote (a log pipeline takes it all)
		obytes=$(stat -c %s "$out" 2>/dev/null || echo null)
		case $cfg in
		synfin* | scoped)
			st=$(last_stats "$out")
			if [ -z "$st" ]; then
				st='null'
				ok=false
				why="${why:+$why; }synfin wrote no stats line"
			else
				seen=$(jq '.events.received' <<<"$st")
				lost=$(jq '.events.lost' <<<"$st")
				emitted=$(jq '.flows.emitted' <<<"$st")
			fi
			# what a log pipeline takes per flow record (default --detail)
			fbytes=$(awk '/^\{"type":"flow"/ {n++; b += length($0) + 1}
				END {if (n) printf "%.0f", b / n; else print "null"}' "$out")
			;;
		*)
			# header line, then one line per event; lost samples are
			# reported on stderr as "lost N events on CPU #C"
			seen=$(($(wc -l <"$out") - 1))
			[ "$seen" -ge 0 ] || seen=0
			lost=$(grep -o 'lost [0-9]* events' "$err" 2>/dev/null | awk '{s += $2} END {print s + 0}')
			;;
		esac
	fi

	jq -nc --argjson round "$round" --argjson idx "$idx" --arg shape "$shape" --arg cfg "$cfg" \
		--argjson ok "$ok" --arg why "$why" --argjson storm "$storm" \
		--argjson seen "$seen" --argjson lost "$lost" --argjson emitted "$emitted" \
		--argjson fbytes "$fbytes" --argjson obytes "$obytes" \
		--argjson t0 "${t0:-0}" --argjson t1 "${t1:-0}" --argjson tck "$CLK_TCK" \
		--argjson hwm "${hwm:-0}" --argjson rss "${rss:-0}" \
		--argjson p0 "$p0" --argjson p1 "$p1" --argjson st "$st" '
		{round: $round, order: $idx, shape: $shape, config: $cfg, ok: $ok,
		 error: (if $why == "" then null else $why end),
		 storm: $storm,
		 conns: ($storm.conns // 0), conn_per_s: ($storm.conn_per_s // 0),
		 events_seen: $seen, events_lost: $lost, flows_emitted: $emitted,
		 flow_record_bytes: $fbytes, output_bytes: $obytes,
		 cpu_s: (if $cfg == "baseline" then null else (($t1 - $t0) / $tck) end),
		 peak_rss_kb: (if $cfg == "baseline" then null else $hwm end),
		 rss_kb: (if $cfg == "baseline" then null else $rss end),
		 bpf: [ $p1[] as $b | ($p0 | map(select(.id == $b.id)) | .[0]
			// {run_time_ns: 0, run_cnt: 0}) as $a |
			{name: $b.name, run_time_ns: ($b.run_time_ns - $a.run_time_ns),
			 run_cnt: ($b.run_cnt - $a.run_cnt)} ],
		 synfin_stats: $st}' >>"$RUNS"

	rm -f "$out"
	printf 'bench: round %d %-6s %-9s %8.0f conn/s  events %s lost %s%s\n' "$round" "$shape" "$cfg" \
		"$(jq -n --argjson s "$storm" '$s.conn_per_s // 0')" "${seen/null/-}" "${lost/null/-}" \
		"$($ok || echo "  FAILED: $why")" >&2
}

# ---------------------------------------------------------------- per packet
# The data path of the packet program on its own: BPF_PROG_TEST_RUN of the
# loaded sf_seg_egress on a crafted data segment (ACK, 1000 bytes of
# payload), 1M runs timed by the kernel (a program that does nothing
# measures ~17 ns this way here). The storm carries no data, so its packet
# figure is control segments only. A test run only reads the
# crafted packet: nothing is sent anywhere. Writes $OUT/packet.json.
packet_cost() {
	local out=$WORK/packet.jsonl err=$WORK/packet.err pkt=$WORK/data-segment.bin
	local pid id res ns=null why="" runs=1000000

	rm -f "$OUT/packet.json"
	python3 -c '
import struct, sys
payload = bytes(1000)
eth = bytes(6) + bytes(6) + struct.pack("!H", 0x0800)
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 20 + len(payload), 1, 0, 64, 6, 0,
                 bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1000, 2000, 5 << 4, 0x10, 512, 0, 0)
sys.stdout.buffer.write(eth + ip + tcp + payload)' >"$pkt" || { log "packet cost: cannot build the packet"; return 0; }
	if start_observer scoped "$out" "$err" -i 0; then
		pid=$OBS_PID
		id=$(bpf_progs_of "$pid" | jq -r '.[] | select(.name == "sf_seg_egress") | .id' | head -n 1)
		if [ -n "$id" ]; then
			res=$("$BPFTOOL" prog run id "$id" data_in "$pkt" repeat "$runs" 2>&1)
			ns=$(grep -o 'duration (average): [0-9]*' <<<"$res" | grep -o '[0-9]*$')
			[ -n "$ns" ] || { ns=null; why="bpftool prog run: $(tr '\n' ' ' <<<"$res" | head -c 200)"; }
		else
			why="sf_seg_egress not loaded"
		fi
		stop_child "$pid" INT 30 >/dev/null 2>&1
	else
		why="synfin did not start"
	fi
	rm -f "$out"
	jq -nc --argjson ns "${ns:-null}" --arg why "$why" --argjson runs "$runs" '
		{program: "sf_seg_egress", packet: "IPv4 TCP ACK, 1000 bytes of payload",
		 method: "BPF_PROG_TEST_RUN", runs: $runs, ns_per_run: $ns,
		 error: (if $why == "" then null else $why end)}' >"$OUT/packet.json"
	log "per data packet: ${ns:-?} ns (sf_seg_egress, BPF_PROG_TEST_RUN)${why:+; $why}"
}

# ---------------------------------------------------------------- hold test
# synfin while HOLD_CONNS connections (2 sockets, so 2 flows, each) are open.
# One storm process may hold only (fd hard limit - slack) / 2 connections and
# one destination only ~28k (ephemeral ports), so several storm --mode hold
# instances are run, each on its own 127.0.0.x.
hold_test() {
	local out=$WORK/hold.jsonl err=$WORK/hold.err pid hard per n each i a st=""
	local ok=true why="" idle_rss=0 rss=0 hwm=0 open=null t0 held=0 want final='null' rc=0
	local -a hp=()

	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && hard=1048576
	per=$(((hard - 64) / 2))
	[ "$per" -gt 25000 ] && per=25000
	[ "$per" -ge 100 ] || { log "hold test skipped: fd hard limit $hard too low"; return 0; }
	n=$(((HOLD_CONNS + per - 1) / per))
	each=$(((HOLD_CONNS + n - 1) / n))
	want=$((n * each * 2))
	log "hold test: $n storm instances x $each connections ($want sockets)"

	# a namespace of its own: the storm rounds' time-wait sockets (60 s)
	# would otherwise be part of what it measures
	ip netns del "$NS" 2>/dev/null
	NS=synfin-bench-hold-$$
	ip netns add "$NS" || { NS=""; log "hold test: ip netns add failed"; return 1; }
	ip -n "$NS" link set lo up
	IN_NS=(ip netns exec "$NS")

	rm -f "$out" "$err"
	# scoped: the flows it holds are the ones opened here, whatever
	# else the machine runs
	start_observer scoped "$out" "$err" -i 1 || { ok=false; why="synfin did not start"; }
	pid=${OBS_PID:-}
	if $ok; then
		sleep 1
		idle_rss=$(status_kb "$pid" VmRSS)
		for ((i = 0; i < n; i++)); do
			a=127.0.0.$((10 + i))
			"${IN_NS[@]}" "$STORM" --mode hold --addr "$a" --connections "$each" --hold-s 120 --json \
				>"$WORK/hold$i.out" 2>"$WORK/hold$i.err" &
			hp+=($!)
			track "$!"
		done
		# opening is bounded by storm itself (60 s)
		t0=$SECONDS
		while [ $((SECONDS - t0)) -lt 75 ]; do
			held=0
			for ((i = 0; i < n; i++)); do
				grep -q '^holding' "$WORK/hold$i.out" 2>/dev/null && held=$((held + 1))
			done
			[ "$held" -eq "$n" ] && break
			for ((i = 0; i < n; i++)); do
				alive "${hp[$i]}" || grep -q '^holding' "$WORK/hold$i.out" 2>/dev/null || break 2
			done
			sleep 0.2
		done
		if [ "$held" -ne "$n" ]; then
			ok=false
			why="only $held of $n storm hold instances opened all connections: $(cat "$WORK"/hold*.err 2>/dev/null | head -n 3 | tr '\n' ' ')"
		else
			# let synfin catch up: its periodic stats show flows.open
			t0=$SECONDS
			while [ $((SECONDS - t0)) -lt 20 ]; do
				sleep 1
				st=$(last_stats "$out")
				open=$(jq '.flows.open // 0' <<<"${st:-null}" 2>/dev/null)
				[ "${open:-0}" -ge "$want" ] && { sleep 1; st=$(last_stats "$out"); break; }
			done
			[ -n "$st" ] && open=$(jq '.flows.open' <<<"$st")
			rss=$(status_kb "$pid" VmRSS)
			hwm=$(status_kb "$pid" VmHWM)
		fi
		for i in "${hp[@]}"; do
			stop_child "$i" INT 30 >/dev/null 2>&1 || rc=$?
			[ "$rc" = 0 ] || { ok=false; why="${why:+$why; }storm hold exited $rc"; rc=0; }
		done
		sleep 2 # synfin sees the closes
	fi
	if [ -n "$pid" ]; then
		stop_child "$pid" INT 30 || { ok=false; why="${why:+$why; }synfin exited non-zero"; }
		final=$(last_stats "$out")
		[ -n "$final" ] || final='null'
	fi
	jq -nc --argjson ok "$ok" --arg why "$why" --argjson inst "$n" --argjson each "$each" \
		--argjson want "$want" --argjson open "${open:-null}" --argjson idle "${idle_rss:-0}" \
		--argjson rss "${rss:-0}" --argjson hwm "${hwm:-0}" --argjson final "$final" '
		{ok: $ok, error: (if $why == "" then null else $why end),
		 storm_instances: $inst, connections: ($inst * $each), sockets: $want,
		 flows_open: $open, idle_rss_kb: $idle, rss_kb: $rss, peak_rss_kb: $hwm,
		 events_seen: ($final.events.received // null),
		 events_lost: (if $final == null then null else $final.events.lost end),
		 flows_evicted: ($final.flows.evicted // null),
		 synfin_stats: $final}' >"$OUT/hold.json"
	rm -f "$out"
	log "hold test: flows open $open, synfin RSS $((rss / 1024)) MiB (idle $((idle_rss / 1024)) MiB)${why:+; $why}"
}

# ---------------------------------------------------------------- main
START=$SECONDS
# the work tree may be rebuilt while the benchmark runs: say so if it was
SYNFIN_SUM=$(sha256sum "$SYNFIN" | cut -c1-16)
# before BPF statistics are on: they add two clock reads to every run,
# which a test run's timing would count as the program's
[ "$QUICK" = 1 ] || packet_cost
enable_bpf_stats
log "$ROUNDS round(s) x ${DURATION}s, shapes ${SHAPE_LIST[*]}: ${CONFIGS[*]} (BPF stats: $STATS_METHOD)"
[ "$BCC" = auto ] && [ "$HAVE_BCC" = 0 ] && log "libbpf-tools not installed: tcpstates/tcplife skipped"

nc=${#CONFIGS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	for sh in "${SHAPE_LIST[@]}"; do
		for ((k = 0; k < nc; k++)); do
			cfg=${CONFIGS[$(((k + r - 1) % nc))]}
			# the floor: the first shape only, unless BENCH_FLOOR=all
			[ "$cfg" = synfin-floor ] && [ "$FLOOR_ON" != all ] && [ "$sh" != "${SHAPE_LIST[0]}" ] && continue
			run_one "$r" "$k" "$sh" "$cfg"
		done
	done
done
[ "$HOLD_CONNS" -gt 0 ] && hold_test

# many namespaces (issue 16): bench/netns.sh, its figures in the report
# (bench/report_netns.py). BENCH_NETNS=N namespaces (default 1000; 0 in
# quick mode, and 0 skips)
NETNS=${BENCH_NETNS:-$([ "$QUICK" = 1 ] && echo 0 || echo 1000)}
rm -f "$OUT/netns.json"
if isnum "$NETNS" && [ "$NETNS" -gt 0 ]; then
	log "namespaces: $NETNS (bench/netns.sh)"
	"$ROOT/bench/netns.sh" "$NETNS" "$OUT/netns.json" >&2 || log "namespaces: bench/netns.sh failed"
fi

cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
[ -n "$cpu_model" ] || cpu_model=$(uname -m)
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg kernel "$(uname -r)" \
	--argjson nproc "$(nproc)" --arg cpu "$cpu_model" \
	--arg version "$("$SYNFIN" --version 2>/dev/null | head -n 1)" \
	--argjson quick "$([ "$QUICK" = 1 ] && echo true || echo false)" \
	--argjson rounds "$ROUNDS" --argjson duration "$DURATION" \
	--arg stats "$STATS_METHOD" --argjson wall "$((SECONDS - START))" \
	--arg configs "${CONFIGS[*]}" --arg shapes "${SHAPE_LIST[*]}" --argjson hold_conns "$HOLD_CONNS" \
	--arg sum0 "$SYNFIN_SUM" --arg sum1 "$(sha256sum "$SYNFIN" | cut -c1-16)" \
	--argjson shape_args "$(for sh in "${SHAPE_LIST[@]}"; do jq -nc --arg k "$sh" --arg v "$(shape_args "$sh")" '{($k): $v}'; done | jq -sc add)" '
	{date: $date, synfin: $version, quick: $quick,
	 machine: {nproc: $nproc, kernel: $kernel, cpu: $cpu},
	 rounds: $rounds, duration_s: $duration, configs: ($configs | split(" ")),
	 shapes: ($shapes | split(" ")), shape_args: $shape_args,
	 hold_connections: $hold_conns, bpf_stats: $stats, wall_s: $wall,
	 synfin_sha256: $sum0, synfin_rebuilt_during_run: ($sum0 != $sum1),
	 storm: {clients: 2, servers: 2}}' >"$WORK/meta.json"

python3 "$ROOT/bench/report.py" "$WORK/meta.json" "$RUNS" "$OUT/hold.json" "$OUT" "$OUT/packet.json"
rc=$?
log "results: $OUT/results.md, $OUT/results.json ($((SECONDS - START)) s)"
exit $rc
