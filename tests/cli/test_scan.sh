#!/bin/bash
# test_scan.sh — `fanzha scan` end to end: order kept on 1, 2 and 4 threads,
# JSON Lines and CSV input, error records for every kind of bad line (and
# read = verdicts + errors, from the summary and by counting lines), output
# and error files, stdin, exit codes, unknown fields carried through, and
# SIGHUP reload while reading a slow pipe.
#
# Needs: FANZHA (the binary), SRC (the source tree), FANZHA_CACHE (a cache
# directory). Uses only bash, coreutils, grep, sed and awk; jq, when it is
# installed, additionally checks that every output line is valid JSON.
set -euo pipefail

: "${FANZHA:?set FANZHA to the fanzha binary}"
: "${SRC:?set SRC to the source tree}"
export FANZHA_CACHE="${FANZHA_CACHE:-}"
RULES="$SRC/tests/data/rules-unit"
T=$(mktemp -d "${TMPDIR:-/tmp}/fanzha-scan-test.XXXXXX")
BG_PIDS=()
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

FAILS=0
CASE=""
fail() { echo "FAIL [$CASE]: $*" >&2; FAILS=$((FAILS + 1)); }
CASE_FAILS=0
ok() { if [ "$FAILS" -eq "$CASE_FAILS" ]; then echo "ok   [$CASE] $*"; else echo "FAIL [$CASE] $*"; fi; }
case_() { CASE="$1"; CASE_FAILS=$FAILS; }

# --- helpers ------------------------------------------------------------------------

# scan OUTPUT ERRORS LOG [fanzha scan args...]: run the scan with verdicts
# to OUTPUT, error records to ERRORS, the summary to LOG; sets RC.
scan() {
    local out="$1" errs="$2" log="$3"
    shift 3
    RC=0
    "$FANZHA" scan --rules "$RULES" -o "$out" --errors "$errs" "$@" 2>"$log" || RC=$?
}

# The number after WORD in the summary line of LOG ("read 5, verdicts 3, errors 2").
summary_count() {
    local log="$1" word="$2"
    grep '^fanzha scan: read ' "$log" | tail -1 | sed -n "s/.*[ ,]$word \([0-9][0-9]*\).*/\1/p"
}

lines() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# check_counts LOG OUT ERRS EXPECT_READ EXPECT_VERDICTS EXPECT_ERRORS
# read = verdicts + errors, from the summary and by counting output lines.
check_counts() {
    local log="$1" out="$2" errs="$3" er="$4" ev="$5" ee="$6"
    local r v e
    r=$(summary_count "$log" read)
    v=$(summary_count "$log" verdicts)
    e=$(summary_count "$log" errors)
    if [ -z "$r" ] || [ -z "$v" ] || [ -z "$e" ]; then
        fail "no summary line in $(cat "$log")"
        return
    fi
    [ "$r" -eq $((v + e)) ] || fail "summary: read $r != verdicts $v + errors $e"
    [ "$(lines "$out")" -eq "$v" ] || fail "verdict lines $(lines "$out") != summary verdicts $v"
    [ "$(lines "$errs")" -eq "$e" ] || fail "error lines $(lines "$errs") != summary errors $e"
    [ "$r" -eq "$er" ] || fail "read $r, expected $er"
    [ "$v" -eq "$ev" ] || fail "verdicts $v, expected $ev"
    [ "$e" -eq "$ee" ] || fail "errors $e, expected $ee"
    if command -v jq >/dev/null 2>&1; then
        if [ -s "$out" ] && ! jq -e . "$out" >/dev/null 2>&1; then fail "verdicts are not valid JSON"; fi
        if [ -s "$errs" ] && ! jq -e . "$errs" >/dev/null 2>&1; then fail "error records are not valid JSON"; fi
    fi
    if command -v iconv >/dev/null 2>&1; then
        iconv -f UTF-8 -t UTF-8 "$out" >/dev/null 2>&1 || fail "verdicts are not valid UTF-8"
        iconv -f UTF-8 -t UTF-8 "$errs" >/dev/null 2>&1 || fail "error records are not valid UTF-8"
    fi
}

# The ids of the verdicts in OUT, one a line (numeric ids).
ids() { sed -n 's/^{"id":\([0-9][0-9]*\),.*/\1/p' "$1"; }

# The "line" numbers of the error records in ERRS.
err_lines() { sed -n 's/^{"line":\([0-9][0-9]*\),.*/\1/p' "$1"; }

# --- 1. order on 1, 2 and 4 threads ------------------------------------------------------------

case_ "order"
N=20000
# Every 997th line is malformed (an error record); the rest are scored.
awk -v n="$N" 'BEGIN {
    split("公安局通知：您涉嫌洗钱#请将资金转入安|全|账|户配合调查#您的快递已到，取件码5-1-2207#" \
          "ETC认证失效 http://etc-x.cn/a#【反诈中心】温馨提醒#hello world 12345", t, "#")
    for (i = 1; i <= n; i++) {
        if (i % 997 == 0) { printf "{\"id\":%d,\"text\":\"broken\n", i; continue }
        printf "{\"id\":%d,\"from\":\"1700%07d\",\"text\":\"%s %d\",\"seq\":%d}\n", i, i, t[i % 6 + 1], i, i
    }
}' >"$T/order.jsonl"
BAD=$((N / 997))
seq 1 "$N" | awk '$1 % 997 != 0' >"$T/order.expected"
seq 997 997 "$N" >"$T/order.expected-errors"
for th in 1 2 4; do
    scan "$T/o$th.jsonl" "$T/o$th.err" "$T/o$th.log" --threads "$th" "$T/order.jsonl"
    [ "$RC" -eq 0 ] || fail "threads $th: exit $RC"
    check_counts "$T/o$th.log" "$T/o$th.jsonl" "$T/o$th.err" "$N" $((N - BAD)) "$BAD"
    ids "$T/o$th.jsonl" >"$T/o$th.ids"
    cmp -s "$T/o$th.ids" "$T/order.expected" || fail "threads $th: verdict ids out of order or missing"
    err_lines "$T/o$th.err" >"$T/o$th.errlines"
    cmp -s "$T/o$th.errlines" "$T/order.expected-errors" || fail "threads $th: error records out of order"
    # The verdicts themselves do not depend on the thread count.
    if [ "$th" != 1 ]; then cmp -s "$T/o1.jsonl" "$T/o$th.jsonl" || fail "threads $th: verdicts differ from 1 thread"; fi
done
ok "20000 lines, 1/2/4 threads, same order and same verdicts"

# --- 2. CSV ---------------------------------------------------------------------------------------

case_ "csv"
printf 'id,from,to,text\n' >"$T/in.csv"
printf 'c1,95588,13812345678,您好，您的快递已到\n' >>"$T/in.csv"
printf 'c2,+2395588,13812345678,"公安局通知：您涉嫌洗钱, 请配合"\n' >>"$T/in.csv"
printf 'c3,,,"第一行\n第二行，""引号""，公安局"\n' >>"$T/in.csv"
printf 'c4,1,2\n' >>"$T/in.csv"                      # wrong field count: line 6
printf 'c5,1,2,"unterminated\n' >>"$T/in.csv"        # runs to the end of the input: line 7
scan "$T/csv.out" "$T/csv.err" "$T/csv.log" "$T/in.csv"   # format from the .csv name
[ "$RC" -eq 0 ] || fail "exit $RC"
check_counts "$T/csv.log" "$T/csv.out" "$T/csv.err" 5 3 2
grep -q '^{"id":"c1","action":"allow"' "$T/csv.out" || fail "c1 missing"
grep -q '^{"id":"c2","action":"block".*"sender":{"class":"service_spoof","risk":6}' "$T/csv.out" || fail "c2 wrong"
grep -q '"evidence":"公安局"' "$T/csv.out" || fail "no evidence for c2/c3"
sed -n 3p "$T/csv.out" | grep -q '^{"id":"c3",' || fail "c3 (multi-line quoted text) not third"
grep -q '^{"line":6,"error":"invalid CSV: expected 4 fields' "$T/csv.err" || fail "no error for line 6: $(cat "$T/csv.err")"
grep -q '^{"line":7,"error":"invalid CSV: unterminated quoted field"}' "$T/csv.err" || fail "no error for line 7"
# --format csv on stdin, without a header.
tail -n +2 "$T/in.csv" | head -4 >"$T/nohdr.txt"
RC=0
"$FANZHA" scan --rules "$RULES" --format csv --errors "$T/csv2.err" <"$T/nohdr.txt" >"$T/csv2.out" 2>"$T/csv2.log" || RC=$?
[ "$RC" -eq 0 ] || fail "--format csv: exit $RC"
check_counts "$T/csv2.log" "$T/csv2.out" "$T/csv2.err" 3 3 0
# A .jsonl-named file forced to CSV, and a CSV file forced to JSON Lines.
cp "$T/nohdr.txt" "$T/csv-as.jsonl"
scan "$T/csv3.out" "$T/csv3.err" "$T/csv3.log" --format csv "$T/csv-as.jsonl"
check_counts "$T/csv3.log" "$T/csv3.out" "$T/csv3.err" 3 3 0
scan "$T/csv4.out" "$T/csv4.err" "$T/csv4.log" --format jsonl "$T/in.csv"
grep -q '"error":"invalid JSON' "$T/csv4.err" || fail "CSV read as JSON Lines gave no JSON errors"
ok "header skipped, quotes, commas, newlines, bad records, --format"

# --- 3. bad lines: each gives an error record or a repaired verdict ------------------------------------

case_ "bad-lines"
{
    printf '{"id":1,"text":"公安局通知"}\n'                    # 1 ok
    printf '{"id":2,"text":"unterminated\n'                    # 2 malformed JSON
    printf '{"id":3,"text":"a\xff\xfeb 公安局"}\n'              # 3 invalid UTF-8: repaired
    printf '{"id":4,"te\0xt":"a\0b 民警"}\n'                     # 4 raw NUL bytes: dropped
    printf '{"id":5,"text":""}\n'                              # 5 empty text
    printf '\n'                                                # 6 blank: not a record
    printf '{"id":7}\n'                                        # 7 no text
    printf '{"id":8,"text":42}\n'                              # 8 text not a string
    printf '[1,2,3]\n'                                         # 9 not an object
    printf '{"id":10,"text":"a\\u0000b"}\n'                    # 10 \u0000: dropped
    printf '\xff\xfe\n'                                        # 11 binary garbage
    printf '{"id":12,"text":"末行"}'                            # 12 no final newline
} >"$T/bad.jsonl"
scan "$T/bad.out" "$T/bad.err" "$T/bad.log" "$T/bad.jsonl"
[ "$RC" -eq 0 ] || fail "exit $RC"
check_counts "$T/bad.log" "$T/bad.out" "$T/bad.err" 11 5 6
[ "$(ids "$T/bad.out" | tr '\n' ' ')" = "1 3 4 10 12 " ] || fail "verdict ids: $(ids "$T/bad.out" | tr '\n' ' ')"
[ "$(err_lines "$T/bad.err" | tr '\n' ' ')" = "2 5 7 8 9 11 " ] || fail "error lines: $(err_lines "$T/bad.err" | tr '\n' ' ')"
grep -q '^{"line":2,"error":"invalid JSON: ' "$T/bad.err" || fail "line 2"
grep -q '^{"line":5,"error":"field '"'"'text'"'"' is empty"}' "$T/bad.err" || fail "line 5"
grep -q '^{"line":7,"error":"missing field '"'"'text'"'"'"}' "$T/bad.err" || fail "line 7"
grep -q '^{"line":8,"error":"field '"'"'text'"'"' must be a string"}' "$T/bad.err" || fail "line 8"
grep -q '^{"line":9,"error":"a record must be a JSON object"}' "$T/bad.err" || fail "line 9"
grep -q '^{"line":11,"error":"invalid JSON: unexpected byte 0xff at byte 0"}' "$T/bad.err" || fail "line 11"
# The repaired texts still scored: the rule evidence is there.
grep '^{"id":3,' "$T/bad.out" | grep -q '"evidence":"公安局"' || fail "id 3 not scored after repair"
grep '^{"id":4,' "$T/bad.out" | grep -q '"evidence":"民警"' || fail "id 4 not scored after dropping NULs"
ok "malformed JSON, invalid UTF-8, NUL bytes, empty text, blank line, missing newline"

case_ "10MB-line"
{
    printf '{"id":1,"text":"公安局"}\n'
    printf '{"id":2,"text":"'
    head -c 10000000 /dev/zero | tr '\0' 'a'
    printf '"}\n'
    printf '{"id":3,"text":"民警"}\n'
    printf '{"id":4,"text":\n'                 # line 4: its number survives the skip
} >"$T/big.jsonl"
scan "$T/big.out" "$T/big.err" "$T/big.log" --threads 2 "$T/big.jsonl"
[ "$RC" -eq 0 ] || fail "exit $RC"
check_counts "$T/big.log" "$T/big.out" "$T/big.err" 4 2 2
grep -q '^{"line":2,"error":"record too long: more than 1048576 bytes' "$T/big.err" || fail "no too-long error: $(head -c 300 "$T/big.err")"
grep -q '^{"line":4,"error":"invalid JSON' "$T/big.err" || fail "line numbers wrong after the long line: $(cat "$T/big.err")"
[ "$(ids "$T/big.out" | tr '\n' ' ')" = "1 3 " ] || fail "the stream did not go on after the long line"
# With a limit above it, the long line is scored.
scan "$T/big2.out" "$T/big2.err" "$T/big2.log" --max-record 20000000 "$T/big.jsonl"
check_counts "$T/big2.log" "$T/big2.out" "$T/big2.err" 4 3 1
# A long line through stdin, 1 thread, with a small limit.
RC=0
"$FANZHA" scan --rules "$RULES" --max-record 1000 --errors "$T/big3.err" <"$T/big.jsonl" >"$T/big3.out" 2>"$T/big3.log" || RC=$?
[ "$RC" -eq 0 ] || fail "stdin: exit $RC"
check_counts "$T/big3.log" "$T/big3.out" "$T/big3.err" 4 2 2
grep -q '^{"line":4,"error":"invalid JSON' "$T/big3.err" || fail "stdin: line numbers wrong after the long line"
ok "10 MB line is an error record, the stream goes on"

# --- 4. output files, stdin, unknown fields -----------------------------------------------------------

case_ "io"
printf '{"id":"a","text":"公安局通知：您涉嫌洗钱","seq":12345678901234567890,"meta":{"k":[1,{"x":null}]},"ok":false}\n{"id":"b","text":"你好"}\n{"bad"\n' >"$T/io.jsonl"
# stdin via '-' and with no file argument; verdicts on stdout, errors on stderr.
for how in dash none; do
    RC=0
    if [ "$how" = dash ]; then
        "$FANZHA" scan --rules "$RULES" - <"$T/io.jsonl" >"$T/io-$how.out" 2>"$T/io-$how.log" || RC=$?
    else
        "$FANZHA" scan --rules "$RULES" <"$T/io.jsonl" >"$T/io-$how.out" 2>"$T/io-$how.log" || RC=$?
    fi
    [ "$RC" -eq 0 ] || fail "stdin ($how): exit $RC"
    [ "$(lines "$T/io-$how.out")" -eq 2 ] || fail "stdin ($how): $(lines "$T/io-$how.out") verdicts"
    grep -q '^{"line":3,"error":' "$T/io-$how.log" || fail "stdin ($how): no error record on stderr"
    grep -q '^fanzha scan: read 3, verdicts 2, errors 1 ' "$T/io-$how.log" || fail "stdin ($how): summary"
done
# Unknown fields are carried through untouched.
grep -q '^{"id":"a","action":"block",.*,"rules_version":"unit-1+[0-9a-f]\{8\}","seq":12345678901234567890,"meta":{"k":\[1,{"x":null}\]},"ok":false}$' \
    "$T/io-dash.out" || fail "unknown fields not carried: $(head -1 "$T/io-dash.out")"
grep -q '^{"id":"b","action":"allow","score":0,"category":null,"hits":\[\],"cache":"miss","rules_version":"unit-1+[0-9a-f]\{8\}"}$' \
    "$T/io-dash.out" || fail "plain verdict: $(sed -n 2p "$T/io-dash.out")"
# -o / --output and --errors: nothing else on stdout, only the summary on stderr.
RC=0
"$FANZHA" scan --rules "$RULES" -o "$T/io.o" --errors "$T/io.e" "$T/io.jsonl" >"$T/io.stdout" 2>"$T/io.stderr" || RC=$?
[ "$RC" -eq 0 ] || fail "-o: exit $RC"
[ ! -s "$T/io.stdout" ] || fail "-o: stdout not empty"
# the summary: one line for the scan, one for the state (embedded store)
[ "$(lines "$T/io.stderr")" -eq 2 ] && grep -q '^fanzha scan: read 3,' "$T/io.stderr" &&
    grep -q '^fanzha scan: state embedded ([^)]*): ' "$T/io.stderr" || fail "-o: stderr is not just the summary"
cmp -s "$T/io.o" "$T/io-dash.out" || fail "-o output differs from stdout output"
[ "$(lines "$T/io.e")" -eq 1 ] || fail "--errors file"
RC=0
"$FANZHA" scan --rules "$RULES" --output "$T/io.o2" --errors "$T/io.e2" -q "$T/io.jsonl" 2>"$T/io.q" || RC=$?
cmp -s "$T/io.o2" "$T/io.o" || fail "--output differs from -o"
[ ! -s "$T/io.q" ] || fail "-q still printed: $(cat "$T/io.q")"
# An existing output file is replaced, not appended to.
"$FANZHA" scan --rules "$RULES" -q -o "$T/io.o2" --errors "$T/io.e2" "$T/io.jsonl"
[ "$(lines "$T/io.o2")" -eq 2 ] || fail "-o appended instead of replacing"
ok "stdin, -o, --output, --errors, -q, unknown fields"

# --- 5. exit codes ------------------------------------------------------------------------------------

case_ "exit-codes"
code() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }
[ "$(code "$FANZHA" scan --rules "$RULES" --bogus "$T/io.jsonl")" -eq 2 ] || fail "unknown option"
[ "$(code "$FANZHA" scan --rules "$RULES" --threads many "$T/io.jsonl")" -eq 2 ] || fail "bad --threads"
[ "$(code "$FANZHA" scan --rules "$RULES" --format xml "$T/io.jsonl")" -eq 2 ] || fail "bad --format"
[ "$(code "$FANZHA" scan --rules "$RULES" "$T/io.jsonl" "$T/io.jsonl")" -eq 2 ] || fail "two inputs"
[ "$(code "$FANZHA" scan --rules "$RULES" "$T/does-not-exist.jsonl")" -eq 3 ] || fail "missing file"
mkdir -p "$T/broken/zh"
cp "$RULES/policy.yaml" "$T/broken/"
printf 'category: t\ntitle: T\nseverity: low\nrules:\n  - id: zh.t.a\n    pattern: "(unclosed"\n    score: 1\n' >"$T/broken/zh/t.yaml"
[ "$(code "$FANZHA" scan --rules "$T/broken" "$T/io.jsonl")" -eq 1 ] || fail "broken rule pack"
RC=0
"$FANZHA" scan --rules "$T/broken" "$T/io.jsonl" >/dev/null 2>"$T/broken.log" || RC=$?
grep -q "$T/broken/zh/t.yaml:6:14: rule 'zh.t.a': invalid pattern" "$T/broken.log" || fail "broken pack message: $(cat "$T/broken.log")"
[ "$(code "$FANZHA" scan --rules "$T/no-such-pack" "$T/io.jsonl")" -eq 1 ] || fail "missing rule pack"
# (Leak detection off: this error path leaks the engine, see the known bugs below.)
[ "$(ASAN_OPTIONS=detect_leaks=0 code "$FANZHA" scan --rules "$RULES" -o "$T/no/such/dir/out" "$T/io.jsonl")" -eq 3 ] ||
    fail "unwritable output"
[ "$(ASAN_OPTIONS=detect_leaks=0 code "$FANZHA" scan --rules "$RULES" --errors "$T/no/such/dir/err" "$T/io.jsonl")" -eq 3 ] ||
    fail "unwritable error file"
[ "$(code "$FANZHA" scan --help)" -eq 0 ] || fail "--help"
ok "2 usage, 3 missing file, 1 broken pack"

# --- 6. SIGHUP reload from a slow pipe -------------------------------------------------------------------

# Lines ids FROM..TO, in the fixed format.
gen() { awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) printf "{\"id\":%d,\"text\":\"公安局通知：您涉嫌洗钱 %d\"}\n", i, i }'; }

# wait_for CMD...: poll (up to 30 s) until CMD succeeds.
wait_for() {
    local i
    for i in $(seq 1 300); do
        if "$@"; then return 0; fi
        sleep 0.1
    done
    return 1
}
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

# reload_run THREADS PACK: 5000 lines, SIGHUP, wait for the reload message,
# 5000 more lines, end of input. Leaves the results in $T/hup-THREADS.*.
reload_run() {
    local th="$1" pack="$2" fifo="$T/hup-$1.fifo" pid
    rm -f "$fifo"
    mkfifo "$fifo"
    "$FANZHA" scan --rules "$pack" --threads "$th" <"$fifo" >"$T/hup-$th.out" 2>"$T/hup-$th.log" &
    pid=$!
    BG_PIDS+=("$pid")
    exec 3>"$fifo"
    gen 1 5000 >&3
    # A first block (4096 records) is scored with the first engine.
    wait_for has_lines "$T/hup-$th.out" 4096 || fail "threads $th: no verdicts before the reload"
    kill -HUP "$pid"
    wait_for grep -q 'reload' "$T/hup-$th.log" || fail "threads $th: no reload message"
    gen 5001 10000 >&3
    exec 3>&-
    RC=0
    wait "$pid" || RC=$?
    [ "$RC" -eq 0 ] || fail "threads $th: exit $RC"
}

case_ "sighup"
for th in 1 4; do
    reload_run "$th" "$RULES"
    grep -q '^fanzha scan: reloaded rules unit-1+' "$T/hup-$th.log" || fail "threads $th: $(cat "$T/hup-$th.log")"
    grep -q '^fanzha scan: read 10000, verdicts 10000, errors 0 .*(reloaded during the scan)$' "$T/hup-$th.log" ||
        fail "threads $th: summary does not say reloaded: $(tail -1 "$T/hup-$th.log")"
    # Every line got exactly one verdict, in order: none lost, none twice.
    ids "$T/hup-$th.out" >"$T/hup-$th.ids"
    seq 1 10000 | cmp -s - "$T/hup-$th.ids" || fail "threads $th: ids not exactly 1..10000 ($(sort -n "$T/hup-$th.ids" | uniq -d | head -3 | tr '\n' ' ')duplicated)"
    [ "$(grep -c '"action":"block"' "$T/hup-$th.out")" -eq 10000 ] || fail "threads $th: verdicts changed across the reload"
done
ok "reloaded mid-stream on 1 and 4 threads; 10000 lines, 10000 verdicts"

case_ "sighup-broken"
# A reload with a broken pack is refused and the running rules stay.
cp -r "$RULES" "$T/live"
fifo="$T/live.fifo"
mkfifo "$fifo"
"$FANZHA" scan --rules "$T/live" <"$fifo" >"$T/live.out" 2>"$T/live.log" &
pid=$!
BG_PIDS+=("$pid")
exec 3>"$fifo"
gen 1 5000 >&3
wait_for has_lines "$T/live.out" 4096 || fail "no verdicts before the reload"
printf 'version: [unclosed\n' >"$T/live/policy.yaml"
kill -HUP "$pid"
wait_for grep -q 'reload refused' "$T/live.log" || fail "no refusal: $(cat "$T/live.log")"
gen 5001 10000 >&3
exec 3>&-
RC=0
wait "$pid" || RC=$?
[ "$RC" -eq 0 ] || fail "exit $RC after a refused reload"
grep -q '^fanzha scan: read 10000, verdicts 10000, errors 0 ' "$T/live.log" || fail "summary: $(tail -1 "$T/live.log")"
grep -q '(reloaded during the scan)' "$T/live.log" && fail "summary claims a reload that was refused"
[ "$(grep -c '"action":"block"' "$T/live.out")" -eq 10000 ] || fail "the old rules did not stay"
ok "broken pack refused on SIGHUP, old rules kept"

# --- regressions (each was a bug once) ---------------------------------------------------------------

case_ "latency"
# Was a bug: scan holds verdicts until a block is full (4096 records or
# 256 KiB) or the input ends, so on a live pipe a message written alone
# gets no verdict for as long as the writer stays quiet.
fifo="$T/lat.fifo"
mkfifo "$fifo"
"$FANZHA" scan --rules "$RULES" <"$fifo" >"$T/lat.out" 2>"$T/lat.log" &
pid=$!
BG_PIDS+=("$pid")
exec 3>"$fifo"
printf '{"id":1,"text":"公安局"}\n' >&3
wait_for has_lines "$T/lat.out" 1 || fail "no verdict for a line written to a pipe that stays open"
exec 3>&-
wait "$pid" || true

case_ "leak-on-bad-output"
# Was a bug: when -o or --errors cannot be opened, scan
# returns 3 without releasing the engine slot; under the sanitizer build
# the leak report turns the exit code into 1 (or an abort).
[ "$(code "$FANZHA" scan --rules "$RULES" -o "$T/no/such/dir/out" "$T/io.jsonl")" -eq 3 ] ||
    fail "unwritable output: exit code changed by a leak"

case_ "bom"
# Was a bug: a UTF-8 byte-order mark at the start of the input: a CSV header
# is scored as a record, and a JSON line loses its id and unknown fields.
printf '\xef\xbb\xbfid,from,to,text\nc1,1,2,hello\n' >"$T/bom.csv"
scan "$T/bom.out" "$T/bom.err" "$T/bom.log" "$T/bom.csv"
[ "$(lines "$T/bom.out")" -eq 1 ] || fail "CSV header after a BOM scored as a record"
printf '\xef\xbb\xbf{"id":1,"text":"hi","seq":5}\n' >"$T/bom.jsonl"
scan "$T/bom2.out" "$T/bom2.err" "$T/bom2.log" "$T/bom.jsonl"
grep -q '^{"id":1,.*"seq":5}$' "$T/bom2.out" || fail "id and unknown fields lost after a BOM"

case_ "csv-stray-quote"
# Was a bug: the block reader toggles its "inside
# quotes" state on every '"', while the CSV parser only treats a quote at
# the start of a field as quoting. One stray quote inside an unquoted text
# (他说"你好) joins every following line into one record, which then fails:
# 3 lines, "read 1, errors 1", and m2 is never scored.
printf 'm1,1,2,他说"你好\nm2,1,2,公安局\nm3,1,2,再见\n' >"$T/quote.csv"
scan "$T/quote.out" "$T/quote.err" "$T/quote.log" "$T/quote.csv"
[ "$(summary_count "$T/quote.log" read)" -eq 3 ] || fail "a stray quote swallowed the following lines: $(tail -1 "$T/quote.log")"
grep -q '^{"id":"m2",' "$T/quote.out" || fail "m2 was never scored"

case_ "two-objects"
# Was a bug: text after the JSON object is ignored: two records on one line
# give one verdict and the second is silently dropped.
printf '{"id":1,"text":"a"}{"id":2,"text":"b"}\n' >"$T/two.jsonl"
scan "$T/two.out" "$T/two.err" "$T/two.log" "$T/two.jsonl"
[ "$(lines "$T/two.err")" -eq 1 ] || fail "a line with two objects is not an error record"

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
fi
echo "all scan checks passed"
