#!/usr/bin/env bash
# synfin show, no root (its renderer and reader have unit tests in
# tests/unit/test_show.c): golden tests: flow records of real connections,
# one fixture per close shape (tests/show/*.jsonl, made by
# make-fixtures.sh), drawn and compared byte for byte with their reviewed
# diagrams, UTF-8 and --ascii; then the command line and bad input.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
cd "$TOP/tests/show" || exit 1

# ---- golden diagrams ------------------------------------------------------
# same NAME WANT GOT: PASS if the files are equal, else FAIL with a diff
same() {
	if cmp -s "$2" "$3"; then
		pass "$1"
	else
		fail "$1" "differs from $2: $(diff "$2" "$3" | head -n 6 | cut -c1-160 | tr '\n' ' ')"
	fi
}

for f in *.jsonl; do
	name=${f%.jsonl}
	"$SYNFIN" show "$f" >"$TMP/$name.out" 2>"$TMP/$name.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "show-golden-$name" "exit $rc: $(head -c 200 "$TMP/$name.err")"
		continue
	fi
	same "show-golden-$name" "$name.expected" "$TMP/$name.out"
	same "show-golden-$name-stderr" "$name.expected.err" "$TMP/$name.err"
	"$SYNFIN" show --ascii "$f" >"$TMP/$name.ascii" 2>/dev/null
	same "show-golden-$name-ascii" "$name.expected.ascii" "$TMP/$name.ascii"
done
check show-ascii-is-ascii sh -c '! cat "$@" | LC_ALL=C grep -q "[^ -~]"' sh "$TMP"/*.ascii

# every fixture at once (not the ones cut from another): pairing among many
# records gives one diagram per connection, each the same as alone
fixtures=$(for f in ./*.jsonl; do [[ $f == *-one-end.jsonl ]] || echo "${f#./}"; done)
# shellcheck disable=SC2086 # one name per word
cat $fixtures >"$TMP/all.jsonl"
"$SYNFIN" show "$TMP/all.jsonl" >"$TMP/all.out" 2>/dev/null
check show-all-fixtures-one-diagram-per-connection \
	test "$(grep -c '^close: ' "$TMP/all.out")" -eq "$(echo "$fixtures" | wc -l)"
first=1
for f in $fixtures; do
	[ "$first" = 1 ] || echo
	first=0
	cat "${f%.jsonl}.expected"
done >"$TMP/all.want"
same show-all-fixtures-same-diagrams "$TMP/all.want" "$TMP/all.out"
# the same records twice (overlapping inputs): drawn once, and told
cat four-way.jsonl four-way.jsonl | "$SYNFIN" show >"$TMP/twice.out" 2>"$TMP/twice.err"
same show-same-records-twice-drawn-once four-way.expected "$TMP/twice.out"
check show-same-records-twice-told grep -q 'skipped 2 flow records given twice' "$TMP/twice.err"

# stdin, as in: jq 'select(.close=="reset")' log.jsonl | synfin show
"$SYNFIN" show <four-way.jsonl >"$TMP/stdin.out" 2>/dev/null
same show-stdin four-way.expected "$TMP/stdin.out"
"$SYNFIN" show - <four-way.jsonl >"$TMP/dash.out" 2>/dev/null
same show-stdin-dash four-way.expected "$TMP/dash.out"
if command -v jq >/dev/null; then
	cat *.jsonl | jq -c 'select(.close=="reset")' | "$SYNFIN" show >"$TMP/jq.out" 2>"$TMP/jq.err"
	# one diagram per connection with a reset record, each saying reset
	want=$(cat *.jsonl | python3 -c 'import json, sys
ends = lambda r: frozenset([(r["local"]["address"], r["local"]["port"]), (r["peer"]["address"], r["peer"]["port"])])
print(len({ends(r) for r in map(json.loads, sys.stdin) if r.get("close") == "reset"}))')
	check show-jq-select-reset sh -c \
		'[ "$(grep -c "^close: " "$1")" -eq "$2" ] && ! grep "^close: " "$1" | grep -vq reset' sh \
		"$TMP/jq.out" "$want"
else
	skip show-jq-select-reset "jq not installed (make deps)"
fi

# --id: that record, merged with its other end when it is in the input
sid=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["type"] == "flow" and r["role"] == "server": print(r["id"])' four-way.jsonl)
"$SYNFIN" show --id "$sid" "$TMP/all.jsonl" >"$TMP/id.out" 2>/dev/null
same show-id-picks-one-and-merges four-way.expected "$TMP/id.out"
"$SYNFIN" show --id "$sid" --no-merge four-way.jsonl >"$TMP/nomerge.out" 2>/dev/null
check show-no-merge-one-end sh -c 'grep -q "^record: server $1" "$2" && ! grep -q "^records:" "$2"' sh \
	"$sid" "$TMP/nomerge.out"

# a real record with segments 6 and 7 taken out and its peer's record
# gone: they are drawn as not seen, with no numbers made up
python3 - four-way.jsonl >"$TMP/cut.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["type"] == "flow" and r["role"] == "client":
        r["segments"]["teardown"] = [s for s in r["segments"]["teardown"] if s["n"] < 6]
        print(json.dumps(r))
PY
"$SYNFIN" show "$TMP/cut.jsonl" >"$TMP/cut.out" 2>&1
check show-cut-segments-not-seen sh -c 'grep -q "6 FIN  not seen" "$1" && grep -q "7 ACK  not seen" "$1" &&
	! grep "not seen" "$1" | grep -q "seq="' sh "$TMP/cut.out"

# colour: never into a file or a pipe; on a terminal unless NO_COLOR
check show-no-color-into-a-pipe sh -c '! grep -q "$(printf "\033")" "$1"' sh "$TMP/stdin.out"
"$SYNFIN" show --color=always four-way.jsonl >"$TMP/color.out" 2>/dev/null
check show-color-always sh -c 'grep -q "$(printf "\033")\[36mSYN_SENT" "$1"' sh "$TMP/color.out"
if command -v script >/dev/null; then
	script -qec "$SYNFIN show four-way.jsonl" /dev/null >"$TMP/tty.out" 2>&1
	check show-color-on-a-terminal grep -q "$(printf '\033')" "$TMP/tty.out"
	NO_COLOR=1 script -qec "$SYNFIN show four-way.jsonl" /dev/null >"$TMP/nocolor.out" 2>&1
	check show-no-color-with-NO_COLOR sh -c '! grep -q "$(printf "\033")\[" "$1"' sh "$TMP/nocolor.out"
else
	skip show-color-on-a-terminal "script (util-linux) not installed"
fi

# the diagrams README.md and docs/show.md quote are real output: each is
# one of the golden diagrams, byte for byte
check show-docs-quote-real-diagrams python3 - "$TOP" <<'PY'
import glob, re, sys
top = sys.argv[1]
real = {open(f).read() for f in glob.glob(f"{top}/tests/show/*.expected")}
n = 0
for doc in (f"{top}/README.md", f"{top}/docs/show.md"):
    for block in re.findall(r"```\n(.*?)```", open(doc).read(), re.S):
        lines = block.splitlines(keepends=True)
        if lines and lines[0].startswith("$ synfin show"):
            lines = lines[1:]
        if lines and re.match(r"\S+ (→|->) \S+  tcp ", lines[0]):
            n += 1
            assert "".join(lines) in real, f"{doc}: a diagram that is not a golden one: {lines[0]}"
assert n >= 7, f"only {n} diagrams quoted"
PY

# ---- bad flags and bad input ------------------------------------------------
expect show-unknown-flag 2 'unrecognized option|Try' "$SYNFIN" show --bogus four-way.jsonl
expect show-bad-color 2 'color' "$SYNFIN" show --color=sometimes four-way.jsonl
expect show-bad-id 2 'not a flow id' "$SYNFIN" show --id zz four-way.jsonl
expect show-two-inputs 2 'one input only' "$SYNFIN" show four-way.jsonl reset.jsonl
expect show-help 0 '' "$SYNFIN" show --help
check show-help-has-examples grep -q 'EXAMPLES' "$TMP/out"
expect show-missing-file 1 '^synfin show: cannot open .*No such file' "$SYNFIN" show "$TMP/nope.jsonl"
check show-missing-file-one-line test "$(wc -l <"$TMP/err")" -eq 1
# an id and no such file: the daemon is asked; none there: said so, with
# how to draw it from a log instead
expect show-id-as-file-hint 1 'no synfin daemon at .*none.sock .*synfin show --id 0123456789abcdef FILE' \
	"$SYNFIN" show --socket "$TMP/none.sock" 0123456789abcdef
check show-id-no-daemon-one-line test "$(wc -l <"$TMP/err")" -eq 1
expect show-id-no-file-no-daemon 1 'no synfin daemon at .*none.sock' \
	"$SYNFIN" show --socket "$TMP/none.sock" --id 0123456789abcdef
expect show-id-too-long-for-daemon 2 'not a flow id as the daemon gives them' \
	"$SYNFIN" show --socket "$TMP/none.sock" --id 0123456789abcdef01
head -c 3000 /dev/urandom >"$TMP/garbage"
expect show-garbage 1 '^synfin show: .*: not JSON Lines \(line 1: ' "$SYNFIN" show "$TMP/garbage"
check show-garbage-one-line test "$(wc -l <"$TMP/err")" -eq 1
: >"$TMP/empty"
expect show-empty 1 '^synfin show: no flow record in ' "$SYNFIN" show "$TMP/empty"
grep -v '"type":"flow"' four-way.jsonl >"$TMP/noflow.jsonl"
expect show-no-flow-records 1 'no flow record in ' "$SYNFIN" show "$TMP/noflow.jsonl"
expect show-id-not-found 1 'no flow record with id 0000000000000000' \
	"$SYNFIN" show --id 0000000000000000 four-way.jsonl
# bad lines among good ones: skipped, counted, told at the end; the rest drawn
{ echo '{"type":"flow",'; cat four-way.jsonl; echo 'not json at all'; } >"$TMP/mixed.jsonl"
expect show-bad-lines-skipped 0 'warning: 2 lines not JSON, skipped \(first: line 1: ' \
	"$SYNFIN" show "$TMP/mixed.jsonl"
same show-bad-lines-rest-drawn four-way.expected "$TMP/out"
# a --detail summary record (the default for normal flows): its segments
# were seen but not listed, and are never drawn as 'not seen'
"$SYNFIN" --replay "$TOP/tests/replay/lifecycle.rec" 2>/dev/null | grep '"type":"flow"' | head -n 1 |
	"$SYNFIN" show --ascii >"$TMP/summary.out" 2>&1
check show-summary-detail-says-so sh -c 'grep -q "written with --detail summary" "$1" && ! grep -q "not seen" "$1"' \
	sh "$TMP/summary.out"
# a summary leaves out the owner's usual source: show still says it
check show-summary-owner-source grep -q "(tcpctl pid [0-9]*, connect)" "$TMP/summary.out"
exit "$_failed"
