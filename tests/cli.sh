#!/usr/bin/env bash
# Command-line and bad-input tests (no root): bad flags exit 2 with usage,
# bad replay files give one clear line and no crash.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

expect cli-unknown-flag 2 'unrecognized option|Usage|Try' "$SYNFIN" --bogus
expect cli-bad-interval 2 'stats-interval' "$SYNFIN" --stats-interval abc
expect cli-negative-interval 2 'stats-interval' "$SYNFIN" -i -5
expect cli-ring-not-power-of-two 2 'ring-mb' "$SYNFIN" --ring-mb 3
expect cli-max-flows-range 2 'max-flows' "$SYNFIN" --max-flows 1
expect cli-bad-netns 2 'netns' "$SYNFIN" --netns /nonexistent/netns
expect cli-nan-interval 2 'stats-interval' "$SYNFIN" -i nan
expect cli-nan-stuck 2 'stuck' "$SYNFIN" --stuck close_wait=nan
expect cli-inf-reconcile 2 'reconcile-interval' "$SYNFIN" --reconcile-interval inf
expect cli-on-output-error-bad 2 'on-output-error' "$SYNFIN" --on-output-error maybe
# filter specs: one line saying which and why (then argp's usage hint)
expect cli-filter-port-zero 2 "^synfin: --port: '0' is not a port" "$SYNFIN" --port 0
expect cli-filter-port-range 2 "^synfin: --exclude-port: '90-80' is not a port" "$SYNFIN" --exclude-port 90-80
expect cli-filter-cidr-bits 2 "^synfin: --cidr: '10.1.2.3/8' has bits set past" "$SYNFIN" --cidr 10.1.2.3/8
expect cli-filter-cidr-len 2 "^synfin: --exclude-cidr: '::/129' is not" "$SYNFIN" --exclude-cidr ::/129
expect cli-filter-comm-long 2 "^synfin: --comm: 'abcdefghijklmnop': at most" "$SYNFIN" --comm abcdefghijklmnop
expect cli-filter-cgroup 2 "^synfin: --cgroup: ('/nonexistent-cgroup' is not a cgroup v2|no cgroup2)" "$SYNFIN" --cgroup /nonexistent-cgroup
expect cli-detail-bad 2 "detail: .full. is not one of auto, summary, segments" "$SYNFIN" --detail full
expect cli-flows-bad 2 "flows: .some. is not one of all, abnormal, none" "$SYNFIN" --flows some
expect cli-sample-zero 2 "sample" "$SYNFIN" --sample 0
expect cli-summary-top-zero 2 "summary-top" "$SYNFIN" --summary-top 0
expect cli-summary-interval-bad 2 "summary-interval" "$SYNFIN" --summary-interval -1
expect cli-metrics-wildcard 2 "metrics-any" "$SYNFIN" --metrics 0.0.0.0:9100
expect cli-metrics-wildcard6 2 "metrics-any" "$SYNFIN" --metrics "[::]:9100"
expect cli-metrics-bad 2 "not ADDR:PORT" "$SYNFIN" --metrics localhost
expect cli-unknown-command 2 'unknown command' "$SYNFIN" frobnicate
expect cli-top-no-daemon 1 'no synfin daemon at .*start one' "$SYNFIN" top --socket "$TMP/none.sock"
expect cli-top-bad-flag 2 'unrecognized option' "$SYNFIN" top --frobnicate
expect cli-record-and-replay 2 'cannot be combined' "$SYNFIN" --record "$TMP/a" --replay "$TMP/b"
expect cli-help 0 '' "$SYNFIN" --help
check cli-help-has-examples grep -q 'EXAMPLES' "$TMP/out"
expect cli-version 0 '' "$SYNFIN" --version
check cli-version-text grep -q '^synfin ' "$TMP/out"
expect cli-daemon-command-help 0 '' "$SYNFIN" daemon --help
expect cli-output-unwritable 1 'output' "$SYNFIN" --replay /dev/null -o /proc/synfin-no/such
# a device that is always full: not a regular file, so a failed write ends it
expect cli-output-full-exits 1 'output /dev/full: No space left on device: stopping' \
	"$SYNFIN" --replay "$TOP/tests/replay/lifecycle.rec" -o /dev/full
expect cli-output-full-drop 0 'No space left on device;.*going on' \
	"$SYNFIN" --replay "$TOP/tests/replay/lifecycle.rec" -o /dev/full --on-output-error drop
expect cli-replay-missing 1 'cannot open' "$SYNFIN" --replay "$TMP/does-not-exist"
: >"$TMP/empty"
expect cli-replay-empty 1 'not a synfin recording' "$SYNFIN" --replay "$TMP/empty"
head -c 5000 /dev/urandom >"$TMP/garbage"
expect cli-replay-garbage 1 'not a synfin recording' "$SYNFIN" --replay "$TMP/garbage"
check cli-replay-error-is-one-line test "$(wc -l <"$TMP/err")" -eq 1

# a valid header followed by random events: decoded or counted, never a crash
python3 - "$TOP/tests/replay/lifecycle.rec" "$TMP/random.rec" <<'PY'
import os, sys
import struct
hdr = open(sys.argv[1], "rb").read(32)
size = struct.unpack_from("<I", hdr, 12)[0]  # the event size the header states
open(sys.argv[2], "wb").write(hdr + os.urandom(size * 2000))
PY
expect cli-replay-random-events 0 '' "$SYNFIN" --replay "$TMP/random.rec"
check cli-replay-random-events-valid-json python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
recs = [json.loads(l) for l in lines]
st = [r for r in recs if r["type"] == "stats"][-1]
assert st["events"]["decode_errors"] > 1500, st["events"]
' "$TMP/out"

# a recording of a later event version is refused with a clear reason
python3 - "$TOP/tests/replay/lifecycle.rec" "$TMP/v99.rec" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
struct.pack_into("<I", d, 16, 99)
open(sys.argv[2], "wb").write(d)
PY
expect cli-replay-other-version 1 'event version 99' "$SYNFIN" --replay "$TMP/v99.rec"

# a config file: its values outlive the line they were read from
printf '# test\noutput %s\nstats-interval 5\nstuck close_wait=3\n' "$TMP/cfg.jsonl" >"$TMP/synfin.conf"
(cd "$TMP" && "$SYNFIN" --config "$TMP/synfin.conf" --replay "$TOP/tests/replay/lifecycle.rec" >"$TMP/cfg.stdout" 2>&1)
check cli-config-output-file test -s "$TMP/cfg.jsonl"
check cli-config-nothing-on-stdout test ! -s "$TMP/cfg.stdout"
printf 'bogus-option 1\n' >"$TMP/bad.conf"
expect cli-config-unknown-option 2 'unknown option' "$SYNFIN" --config "$TMP/bad.conf"
