#!/usr/bin/env bash
# Stuck connections on a real kernel: each state made stuck for real inside
# a namespace of the test's own (faults injected with nft there only);
# `stuck` must arrive within threshold + 1 s, `resolved` once released, and
# synfin's stuck set must equal what `ss` shows in that namespace.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root stuck
WAIT="python3 $TOP/tests/kernel/jsonwait.py"

# expect_record NAME OUT TIMEOUT EXPR: PASS if a record matches in time;
# the record is left in $TMP/rec
expect_record() {
	local name=$1 out=$2 t=$3 expr=$4
	if $WAIT "$out" "$t" "$expr" >"$TMP/rec" 2>"$TMP/rec.err"; then
		pass "$name"
	else
		fail "$name" "no record with: $expr $(head -c 200 "$TMP/rec.err")"
		return 1
	fi
}

# rec_check NAME EXPR: a property of the record in $TMP/rec
rec_check() {
	check "$1" python3 -c "import json,sys; r=json.load(open('$TMP/rec')); assert ($2), r" 
}

# same_as_ss NAME NS SS_STATE SYNFIN_STATE OUT: the flows synfin reports stuck
# (and not resolved) in a state are the sockets ss lists in it, by ports
same_as_ss() {
	local name=$1 ns=$2 ss_state=$3 state=$4 out=$5
	ip netns exec "$ns" ss -tanH state "$ss_state" | awk '{print $(NF-1), $NF}' |
		sed -E 's/.*:([0-9]+) .*:([0-9]+)$/\1 \2/' | sort >"$TMP/ss.set"
	python3 - "$out" "$state" >"$TMP/sf.set" <<'PY'
import json, sys
stuck = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["type"] in ("stuck", "resolved") and r["state"] == sys.argv[2]:
        k = (r["local"]["port"], r["peer"]["port"])
        if r["type"] == "stuck":
            stuck[k] = 1
        else:
            stuck.pop(k, None)
for lp, pp in sorted(stuck):
    print(lp, pp)
PY
	sort -o "$TMP/sf.set" "$TMP/sf.set"
	if [ -s "$TMP/ss.set" ] && diff -q "$TMP/ss.set" "$TMP/sf.set" >/dev/null; then
		pass "$name"
	else
		fail "$name" "ss: $(tr '\n' ',' <"$TMP/ss.set") synfin: $(tr '\n' ',' <"$TMP/sf.set")"
	fi
}

nft_drop() { # NS RULE...: one table of the test's own, inside NS only
	local ns=$1
	shift
	ip netns exec "$ns" nft add table inet synfin_test 2>/dev/null
	ip netns exec "$ns" nft add chain inet synfin_test out '{ type filter hook output priority 0; policy accept; }' 2>/dev/null
	ip netns exec "$ns" nft add rule inet synfin_test out "$@"
}
nft_clear() { ip netns exec "$1" nft delete table inet synfin_test 2>/dev/null || true; }

# listener NS PORT CHECK: a listen-only tcpctl (10 s), waited for before any
# client connects (a SYN that comes first is refused); CHECK fails if not
listener() {
	ip netns exec "$1" "$TCPCTL" listen-only --port "$2" --hold 10000 >"$TMP/listen-$2.tcp" &
	cleanup_add "kill $!"
	wait_line "$TMP/listen-$2.tcp" '^ready' || fail "$3" "the listener never started"
}

# ---- CLOSE_WAIT leak and a half-closed FIN_WAIT_2 (not orphaned) --------
ns=$(ns_create cw)
out=$TMP/cw.jsonl
start_synfin "$out" "$ns" --stuck close_wait=1 --stuck fin_wait_2=1 --reconcile-interval 1
# held 6 s: the checks below (stuck after 1 s, two ss comparisons) must
# end before CLOSE_WAIT does, on a slow machine too
ip netns exec "$ns" "$TCPCTL" half-close --port 20201 --hold 6000 >"$TMP/cw.tcp" &
tcp=$!
cleanup_add "kill $tcp"
wait_line "$TMP/cw.tcp" '^hold' || fail stuck-close-wait "tcpctl never held"
pid=$(sed -n 's/.*client_pid=\([0-9]*\).*/\1/p' "$TMP/cw.tcp" | head -n 1)
if expect_record stuck-close-wait "$out" 3 \
	'r["type"]=="stuck" and r["state"]=="CLOSE_WAIT" and r["local"]["port"]==20201'; then
	rec_check stuck-close-wait-age 'r["age_us"] >= 1000000 and r["age_us"] < 2500000 and not r["age_is_lower_bound"]'
	rec_check stuck-close-wait-owner "r['process']['comm']=='tcpctl' and r['process']['pid']==$pid"
fi
expect_record stuck-fin-wait-2 "$out" 3 \
	'r["type"]=="stuck" and r["state"]=="FIN_WAIT_2" and r["peer"]["port"]==20201'
same_as_ss stuck-close-wait-equals-ss "$ns" close-wait CLOSE_WAIT "$out"
same_as_ss stuck-fin-wait-2-equals-ss "$ns" fin-wait-2 FIN_WAIT_2 "$out"
wait "$tcp"
expect_record resolved-close-wait "$out" 3 \
	'r["type"]=="resolved" and r["state"]=="CLOSE_WAIT" and r["next"]=="LAST_ACK" and r["stuck_us"]>=3000000'
expect_record resolved-fin-wait-2 "$out" 3 \
	'r["type"]=="resolved" and r["state"]=="FIN_WAIT_2" and r["next"]=="TIME_WAIT"'
if stop_synfin; then pass synfin-exits-0; else fail synfin-exits-0 "exit status $?"; fi

# ---- LAST_ACK: the final ACK dropped ------------------------------------
ns=$(ns_create la)
out=$TMP/la.jsonl
start_synfin "$out" "$ns" --stuck last_ack=1
# the drop rule goes in during the 2 s hold, before the server's close
ip netns exec "$ns" "$TCPCTL" close-wait --port 20202 --hold 2000 >"$TMP/la.tcp" &
tcp=$!
cleanup_add "kill $tcp"
wait_line "$TMP/la.tcp" '^hold' || fail stuck-last-ack "tcpctl never held"
# the client's pure ACKs to the server, from now on: the one for the FIN
nft_drop "$ns" tcp dport 20202 tcp flags == ack drop
expect_record stuck-last-ack "$out" 4 \
	'r["type"]=="stuck" and r["state"]=="LAST_ACK" and r["local"]["port"]==20202'
same_as_ss stuck-last-ack-equals-ss "$ns" last-ack LAST_ACK "$out"
nft_clear "$ns"
expect_record resolved-last-ack "$out" 6 \
	'r["type"]=="resolved" and r["state"]=="LAST_ACK" and r["next"]=="CLOSED"'
expect_record last-ack-flow-retransmits "$out" 3 \
	'r["type"]=="flow" and r["local"]["port"]==20202 and r["retransmits"]["fin"]>=1'
wait "$tcp"
stop_synfin

# ---- SYN_SENT (SYN-ACK dropped), with the server's half-open request -----
ns=$(ns_create ss)
out=$TMP/ss.jsonl
start_synfin "$out" "$ns" --stuck syn_sent=2 --stuck syn_received=1 --reconcile-interval 1
listener "$ns" 20203 stuck-syn-sent
nft_drop "$ns" tcp sport 20203 tcp flags '&' '(syn|ack)' == 'syn|ack' drop
ip netns exec "$ns" "$TCPCTL" timeout --port 20203 --syncnt 2 >"$TMP/ss.tcp" &
tcp=$!
cleanup_add "kill $tcp"
# 2 s: the port connect() picks after SYN_SENT is learnt from the first SYN
# retransmit (1 s)
expect_record stuck-syn-sent "$out" 4 \
	'r["type"]=="stuck" and r["state"]=="SYN_SENT" and r["peer"]["port"]==20203 and r["role"]=="client"'
expect_record stuck-syn-received-half-open "$out" 4 \
	'r["type"]=="stuck" and r["state"]=="SYN_RECEIVED" and r["local"]["port"]==20203'
same_as_ss stuck-syn-sent-equals-ss "$ns" syn-sent SYN_SENT "$out"
same_as_ss stuck-syn-received-equals-ss "$ns" syn-recv SYN_RECEIVED "$out"
wait "$tcp"
expect_record resolved-syn-sent-by-timeout "$out" 3 \
	'r["type"]=="resolved" and r["state"]=="SYN_SENT" and r["next"]=="CLOSED"'
expect_record syn-sent-flow-timeout "$out" 3 \
	'r["type"]=="flow" and r["peer"]["port"]==20203 and r["close"]=="timeout" and r["retransmits"]["syn"]>=1'
stop_synfin

# ---- SYN_RECEIVED: the final ACK of the handshake dropped -----------------
ns=$(ns_create sr)
out=$TMP/sr.jsonl
start_synfin "$out" "$ns" --stuck syn_received=1 --reconcile-interval 0.5
listener "$ns" 20204 stuck-syn-received
nft_drop "$ns" tcp dport 20204 tcp flags == ack drop
ip netns exec "$ns" python3 -c 'import socket,time; s=socket.create_connection(("127.0.0.1",20204)); time.sleep(6)' &
cleanup_add "kill $!"
expect_record stuck-syn-received "$out" 4 \
	'r["type"]=="stuck" and r["state"]=="SYN_RECEIVED" and r["local"]["port"]==20204 and r["role"]=="server"'
same_as_ss stuck-syn-received-equals-ss-2 "$ns" syn-recv SYN_RECEIVED "$out"
nft_clear "$ns"
# the listener retransmits its SYN-ACK, the client ACKs it again
expect_record resolved-syn-received "$out" 8 \
	'r["type"]=="resolved" and r["state"]=="SYN_RECEIVED" and r["local"]["port"]==20204'
stop_synfin

# ---- FIN_WAIT_1: our FIN never acknowledged -------------------------------
ns=$(ns_create fw1)
out=$TMP/fw1.jsonl
start_synfin "$out" "$ns" --stuck fin_wait_1=1
ip netns exec "$ns" "$TCPCTL" close-wait --port 20205 --hold 2500 --wait-file "$TMP/fw1.go" >"$TMP/fw1.tcp" &
tcp=$!
cleanup_add "kill $tcp"
wait_line "$TMP/fw1.tcp" '^established' || fail stuck-fin-wait-1 "tcpctl never connected"
nft_drop "$ns" tcp sport 20205 drop
touch "$TMP/fw1.go"
expect_record stuck-fin-wait-1 "$out" 3 \
	'r["type"]=="stuck" and r["state"]=="FIN_WAIT_1" and r["peer"]["port"]==20205'
same_as_ss stuck-fin-wait-1-equals-ss "$ns" fin-wait-1 FIN_WAIT_1 "$out"
nft_clear "$ns"
expect_record resolved-fin-wait-1 "$out" 6 \
	'r["type"]=="resolved" and r["state"]=="FIN_WAIT_1"'
wait "$tcp"
stop_synfin

# ---- a CLOSE_WAIT leak that began before synfin ---------------------------
ns=$(ns_create pre)
out=$TMP/pre.jsonl
# 6 s: synfin starts inside the hold, and the leak must outlast its 1 s
ip netns exec "$ns" "$TCPCTL" close-wait --port 20206 --hold 6000 >"$TMP/pre.tcp" &
tcp=$!
cleanup_add "kill $tcp"
wait_line "$TMP/pre.tcp" '^hold' || fail stuck-pre-existing "tcpctl never held"
pid=$(sed -n 's/.*client_pid=\([0-9]*\).*/\1/p' "$TMP/pre.tcp" | head -n 1)
start_synfin "$out" "$ns" --stuck close_wait=1
if expect_record stuck-pre-existing-close-wait "$out" 3 \
	'r["type"]=="stuck" and r["state"]=="CLOSE_WAIT" and r["local"]["port"]==20206'; then
	rec_check stuck-pre-existing-marked 'r["pre_existing"] and r["age_is_lower_bound"]'
	rec_check stuck-pre-existing-owner "r['process']['comm']=='tcpctl' and r['process']['pid']==$pid and r['process']['source']=='snapshot'"
fi
wait "$tcp"
expect_record resolved-pre-existing "$out" 3 \
	'r["type"]=="resolved" and r["state"]=="CLOSE_WAIT" and r["next"]=="LAST_ACK" and r["pre_existing"]'
expect_record pre-existing-flow-joined "$out" 3 \
	'r["type"]=="flow" and r["local"]["port"]==20206 and r["path"]=="CLOSE_WAIT>LAST_ACK>CLOSED" and "started_mid_flow" in r["partial_reasons"]'
stop_synfin

# ---- TIME_WAIT pile-up towards one remote endpoint ------------------------
ns=$(ns_create tw)
out=$TMP/tw.jsonl
start_synfin "$out" "$ns" --pileup-time-wait 10 --reconcile-interval 0.5
ip netns exec "$ns" "$TCPCTL" client-first --port 20207 --count 15 --linger-ms 0 >/dev/null
if expect_record pileup-time-wait "$out" 3 \
	'r["type"]=="pileup" and r["kind"]=="time_wait_per_remote" and r["event"]=="start" and r["peer"]["port"]==20207'; then
	n=$(ip netns exec "$ns" ss -tanH state time-wait dst :20207 | wc -l)
	rec_check pileup-time-wait-count "r['count'] >= 10 and r['count'] <= $n and $n == 15"
fi
stop_synfin
