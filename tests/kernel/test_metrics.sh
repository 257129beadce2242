#!/usr/bin/env bash
# --metrics with the real thing: promtool checks a scrape, and a real
# Prometheus server (its own config and storage in $TMP, on loopback,
# scraping every second) reads synfin; its HTTP API must show the
# closed-connections counter grown by exactly the connections made here.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
need_root metrics

for tool in promtool prometheus curl; do
	command -v "$tool" >/dev/null || {
		fail "metrics/$tool" "not installed (scripts/install-deps.sh)"
		exit 1
	}
done
ns=$(ns_create metrics) || {
	fail metrics/netns "ip netns add failed"
	exit 1
}
# ports unlikely to be taken; a test run is the only user
MPORT=$((19100 + RANDOM % 400))
PPORT=$((19600 + RANDOM % 400))
out=$TMP/synfin.jsonl
# 3 ports are labelled, the rest are "other"
if ! start_synfin "$out" "$ns" --metrics "127.0.0.1:$MPORT" --metrics-labels --summary-top 3; then
	fail metrics/start "synfin did not start: $(tr '\n' ' ' <"$out.err")"
	exit 1
fi
URL=http://127.0.0.1:$MPORT/metrics

curl -sf "$URL" >"$TMP/scrape0.txt"
check metrics/promtool-check sh -c "promtool check metrics <'$TMP/scrape0.txt'"
check metrics/loss-counters-by-where grep -q '^synfin_bpf_ringbuf_reserve_failed_total 0' "$TMP/scrape0.txt"
check metrics/not-found-elsewhere sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$MPORT/) = 404 ]"

cat >"$TMP/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: synfin
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOC
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom-data" \
	--web.listen-address="127.0.0.1:$PPORT" >"$TMP/prom.log" 2>&1 &
prom=$!
cleanup_add "stop_pid $prom TERM 10"
API=http://127.0.0.1:$PPORT/api/v1/query
query() { curl -sf --data-urlencode "query=$1" "$API" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "none")'; }
for _ in $(seq 100); do
	[ "$(query 'up{job="synfin"}' 2>/dev/null)" = 1 ] && break
	sleep 0.2
done
check metrics/prometheus-scrapes-synfin test "$(query 'up{job="synfin"}')" = 1

before=$(query 'sum(synfin_connections_closed_total)')
N=7
# one tcpctl each: a listener (a port) each
for _ in $(seq "$N"); do
	ip netns exec "$ns" timeout 30 "$TCPCTL" client-first --linger-ms 1 >/dev/null 2>"$TMP/tcpctl.err" ||
		fail metrics/tcpctl "$(tr '\n' ' ' <"$TMP/tcpctl.err")"
done
ip netns exec "$ns" timeout 30 "$TCPCTL" refused --port 20999 >/dev/null 2>&1
ns_settle "$ns"
# the flows' grace period, then two scrapes
sleep 3
after=$(query 'sum(synfin_connections_closed_total)')
# both ends of each connection close, and the refused client
want=$((2 * N + 1))
check metrics/closed-counter-increase python3 -c "
b, a = '$before', '$after'
assert b != 'none' and a != 'none', (b, a)
assert float(a) - float(b) == $want, f'increase {float(a) - float(b)}, want $want'"
inc=$(query 'sum(increase(synfin_connections_closed_total[1m]))')
echo "prometheus: sum(synfin_connections_closed_total) $before -> $after; increase[1m] $inc" >&2
check metrics/refused-by-reason test "$(query 'synfin_connect_failures_total{reason="refused"}')" = 1
check metrics/handshake-histogram test "$(query 'synfin_handshake_duration_seconds_count')" = "$N"
check metrics/events-received python3 -c "assert float('$(query synfin_events_received_total)') > 0"
check metrics/labels-bounded python3 - "$(curl -sf "$URL")" "$N" <<'PY'
import sys
text, n = sys.argv[1], int(sys.argv[2])
ports = [l for l in text.splitlines() if l.startswith("synfin_listener_connections_closed_total{")]
assert len(ports) == 4 and sum('port="other"' in l for l in ports) == 1, ports
assert sum(float(l.split()[-1]) for l in ports) == n, ports
proc = [l for l in text.splitlines() if l.startswith('synfin_process_connections_closed_total{comm="tcpctl",kind="normal"}')]
assert proc and float(proc[0].split()[-1]) == 2 * n, proc
PY
# connections opened by role: the N clients and the refused one; N servers
check metrics/opened-by-role python3 - "$(curl -sf "$URL")" "$N" <<'PY'
import sys
text, n = sys.argv[1], int(sys.argv[2])
v = {l.split()[0]: float(l.split()[1]) for l in text.splitlines() if l.startswith("synfin_connections_opened_total{")}
assert v == {'synfin_connections_opened_total{role="client"}': n + 1,
             'synfin_connections_opened_total{role="server"}': n}, v
PY

# half-open per listener: a listener whose clients' final ACK is dropped
# (nft, in the test's namespace only) holds their requests in SYN_RECEIVED
ip netns exec "$ns" "$TCPCTL" listen-only --port 20998 --hold 10000 >"$TMP/listen.tcp" 2>&1 &
cleanup_add "kill $!"
wait_line "$TMP/listen.tcp" '^ready' || fail metrics/half-open-listener "the listener never started"
cleanup_add "ip netns exec $ns nft delete table inet synfin_metrics"
ip netns exec "$ns" nft -f - <<'NFT' || fail metrics/half-open-nft "nft rule not accepted"
table inet synfin_metrics {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport 20998 tcp flags == ack drop
	}
}
NFT
for _ in 1 2; do
	ip netns exec "$ns" python3 -c 'import socket, time; s = socket.create_connection(("127.0.0.1", 20998)); time.sleep(8)' &
	cleanup_add "kill $!"
done
want_ho="synfin_flows_half_open_by_listener{netns=\"$(ns_inode "$ns")\",port=\"20998\"} 2"
for _ in $(seq 30); do
	curl -sf "$URL" >"$TMP/scrape-ho.txt"
	grep -qxF "$want_ho" "$TMP/scrape-ho.txt" && break
	sleep 0.2
done
check metrics/half-open-per-listener grep -qxF "$want_ho" "$TMP/scrape-ho.txt"
check metrics/half-open-labels-bounded python3 - "$TMP/scrape-ho.txt" <<'PY'
import sys
lines = [l for l in open(sys.argv[1]) if l.startswith("synfin_flows_half_open_by_listener{")]
# --summary-top 3: three listeners at most, the rest as other
assert len(lines) <= 4 and lines[-1].startswith('synfin_flows_half_open_by_listener{port="other"}'), lines
PY
curl -sf "$URL" >"$TMP/scrape1.txt"
check metrics/promtool-check-after-traffic sh -c "promtool check metrics <'$TMP/scrape1.txt'"
cp "$TMP/scrape1.txt" "${METRICS_SCRAPE_KEEP:-/dev/null}" 2>/dev/null
stop_synfin
exit "$_failed"
