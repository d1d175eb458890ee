#!/bin/bash
# test_worker.sh — `fanzha worker` and `fanzha stream` against a real
# redis-server that this test starts on a free loopback port
# (tests/cli/redis.sh):
#
#   1. push 20,003 records (3 unreadable) over 4 partitions; two workers
#      share them; one is frozen mid-batch (entries pending to it) and
#      killed with SIGKILL; the other and a replacement claim what it left.
#      Afterwards every input entry id has a verdict (at least once;
#      duplicates are counted and printed), the 3 unreadable records are
#      error records (not dead letters), nothing is pending, the input is
#      trimmed, and `stream status` (table and --json) says so.
#   2. a poison message: delivered to a fake consumer and claimed again by
#      others beyond --max-deliveries, it lands in fz:in:dead:{p0} with its
#      fields, acknowledged and without a verdict; `stream dead list` shows
#      it and `stream dead replay` puts it back to be scored. Silent
#      consumers that hold nothing are forgotten.
#   3. SIGHUP while busy reloads the rules and the worker goes on; SIGTERM
#      while busy: exit 0 with nothing pending.
#   4. CSV records spanning lines; one recipient written three ways goes to
#      one partition; a push with another partition count is refused, and a
#      worker asked for a partition that does not exist.
#   5. Redis killed and restarted empty under an idle worker: it reports the
#      outage once, recreates its group and scores what is pushed next.
#
# Needs: FANZHA (the binary), SRC (the source tree), redis-server,
# redis-cli, jq. Every wait is bounded (a worker that never finishes is
# killed after 60 s and fails its case).
set -euo pipefail

: "${FANZHA:?set FANZHA to the fanzha binary}"
: "${SRC:?set SRC to the source tree}"
export FANZHA_HASH_KEY="test_worker.sh hashing key"
unset FANZHA_REDIS FANZHA_CONFIG
T=$(mktemp -d "${TMPDIR:-/tmp}/fanzha-worker-test.XXXXXX")
export FANZHA_CACHE="${FANZHA_CACHE:-$T/cache}"
export FANZHA_STATE_DIR="$T/state"
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"
# shellcheck source=tests/cli/redis.sh
. "$SRC/tests/cli/redis.sh"
cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; done     # frozen ones too
    lib_cleanup
    redis_stop
}
trap cleanup EXIT

command -v jq >/dev/null 2>&1 || { echo "test_worker.sh needs jq" >&2; exit 1; }
redis_start || exit 1
URL="$REDIS_URL"
# Compile the rule pack once, so that workers start in a fraction of a second.
"$FANZHA" scan --state none -q "$SRC/tests/data/sample-sms.jsonl" >/dev/null

# --- helpers ------------------------------------------------------------------------------------------

P="0 1 2 3"
in_key() { echo "fz:in:{p$1}"; }
out_key() { echo "fz:verdicts:{p$1}"; }
dead_key() { echo "fz:in:dead:{p$1}"; }

sum_over() { local p s=0; for p in $P; do s=$((s + $("$@" "$p"))); done; echo "$s"; }
out_len() { redis_cli XLEN "$(out_key "$1")"; }
in_len() { redis_cli XLEN "$(in_key "$1")"; }
dead_len() { redis_cli XLEN "$(dead_key "$1")"; }
# Entries delivered to the group and not acknowledged (0 when there is no group).
pending() { local n; n=$(redis_cli XPENDING "$(in_key "$1")" fanzha 2>/dev/null | sed -n 1p); [[ "$n" =~ ^[0-9]+$ ]] && echo "$n" || echo 0; }
# Entries pending to one consumer, over every partition.
consumer_pending() {
    local p s=0 n
    for p in $P; do
        n=$(redis_cli XINFO CONSUMERS "$(in_key "$p")" fanzha 2>/dev/null |
            awk -v c="$1" 'prev == "name" { name = $0 } prev == "pending" && name == c { print } { prev = $0 }')
        s=$((s + ${n:-0}))
    done
    echo "$s"
}
# The value after each field named $2 in the entries of stream $1 (redis-cli
# prints an entry as its id, then field and value lines).
field_values() { redis_cli XRANGE "$1" - + | awk -v f="$2" 'prev == f { print } { prev = $0 }'; }
ids_of() { redis_cli XRANGE "$1" - + | grep -E '^[0-9]+-[0-9]+$' | awk 'NR == 1 || prev != "src" { print } { prev = $0 }'; }
# Conditions to poll for (wait_until runs a command again and again).
out_gt() { [ "$(sum_over out_len)" -gt "$1" ]; }
out_ge() { [ "$(sum_over out_len)" -ge "$1" ]; }
# Note: no `grep -q` or `head` at the end of a pipeline below: with pipefail, the
# writer they cut off fails the whole pipeline.

# The number after WORD in a worker's final stats line.
stat_of() {
    local v
    v=$(grep 'fanzha worker: done:' "$1" | tail -1 | sed -n "s/.*[ ,:]$2 \([0-9][0-9]*\).*/\1/p")
    echo "${v:-0}"
}

# wait_until SECONDS CMD...: poll until CMD succeeds, by the clock (a poll
# here runs several redis-cli, so lib.sh's count of polls would overrun).
wait_until() {
    local end=$((SECONDS + $1))
    shift
    while [ "$SECONDS" -lt "$end" ]; do
        if "$@"; then return 0; fi
        sleep 0.05
    done
    return 1
}

# freeze_holding PID NAME: stop the worker (SIGSTOP) at a moment when it
# holds entries it read but has not committed; 1 if that never happens.
freeze_holding() {
    local i
    for i in $(seq 1 200); do
        kill -STOP "$1"
        if [ "$(consumer_pending "$2")" -gt 0 ]; then return 0; fi
        kill -CONT "$1"
        sleep 0.01
    done
    return 1
}

worker() {     # worker NAME LOG [OPTIONS...]: start a worker in the background; PID in WPID
    local name="$1" log="$2"
    shift 2
    "$FANZHA" worker --redis "$URL" --consumer "$name" --stats-interval 1 "$@" 2>"$log" &
    WPID=$!
    BG_PIDS+=("$WPID")
}

# --- 1. two workers, one killed mid-batch ------------------------------------------------------------

case_ "share-and-kill"
N=20000
jq -c -s --argjson n "$N" '. as $all | range($n) as $i
    | $all[$i % ($all | length)] + {id: "w-\($i)", to: ("138" + ((10000000 + $i) | tostring))}' \
    "$SRC"/tests/data/corpus/zh-scam.jsonl "$SRC"/tests/data/corpus/zh-ham.jsonl \
    "$SRC"/tests/data/corpus/en-scam.jsonl "$SRC"/tests/data/corpus/en-ham.jsonl >"$T/msgs.jsonl"
# Three unreadable records among them: they must come out as error records.
{ head -n 7000 "$T/msgs.jsonl"; echo 'not json at all'; echo '{"id":"no-text","to":"13800000001"}';
  sed -n '7001,14000p' "$T/msgs.jsonl"; echo '{"id":"cut","text":"半'; sed -n '14001,$p' "$T/msgs.jsonl"; } >"$T/in.jsonl"
TOTAL=$((N + 3))
RC=0
"$FANZHA" stream push --redis "$URL" "$T/in.jsonl" 2>"$T/push.log" || RC=$?
[ "$RC" -eq 0 ] || fail "push: exit $RC: $(cat "$T/push.log")"
grep -q "^fanzha stream push: pushed $TOTAL (p0 [0-9]*, p1 [0-9]*, p2 [0-9]*, p3 [0-9]*), refused 0" "$T/push.log" ||
    fail "push summary: $(cat "$T/push.log")"
[ "$(redis_cli GET fz:in:partitions)" = 4 ] || fail "partition count not recorded"
[ "$(sum_over in_len)" -eq "$TOTAL" ] || fail "the partitions hold $(sum_over in_len), not $TOTAL"
for p in $P; do
    n=$(in_len "$p")
    [ "$n" -gt $((TOTAL / 8)) ] || fail "partition $p holds only $n entries: recipients are not spread"
    per=$(sed -n "s/.*[ (]p$p \([0-9]*\)[,)].*/\1/p" "$T/push.log")
    [ "$per" = "$n" ] || fail "push said p$p $per, the stream holds $n"
done
# Entry ids are per stream (two partitions may both have 1700000000000-0): "p id".
for p in $P; do ids_of "$(in_key "$p")" | sed "s/^/$p /"; done | sort >"$T/input-ids"
[ "$(wc -l <"$T/input-ids")" -eq "$TOTAL" ] || fail "read back $(wc -l <"$T/input-ids") input ids"

worker A "$T/a.log" --claim-idle 1000 --claim-interval 500 --batch 256
PID_A=$WPID
worker B "$T/b.log" --claim-idle 1000 --claim-interval 500 --batch 256
PID_B=$WPID
wait_until 60 out_gt 1500 || fail "no verdicts after 60 s: $(cat "$T/a.log" "$T/b.log")"
# Freeze A while it holds entries (read, not yet committed), then kill it.
freeze_holding "$PID_A" A || fail "never caught A in the middle of a batch"
LEFT=$(consumer_pending A)
kill -9 "$PID_A"
wait "$PID_A" 2>/dev/null || true
echo "     A killed with $LEFT entries pending; $(sum_over out_len) verdicts so far"
worker C "$T/c.log" --claim-idle 1000 --claim-interval 500 --batch 256
PID_C=$WPID
done_() { [ "$(sum_over pending)" -eq 0 ] && [ "$(sum_over out_len)" -ge "$TOTAL" ] &&
          [ "$(consumer_pending A)" -eq 0 ]; }
wait_until 60 done_ || fail "not done after 60 s: $(sum_over out_len) verdicts, $(sum_over pending) pending"
kill -TERM "$PID_B" "$PID_C"
wait_pid "$PID_B" 20; RC_B=$RC
wait_pid "$PID_C" 20; RC_C=$RC
[ "$RC_B" -eq 0 ] && [ "$RC_C" -eq 0 ] || fail "SIGTERM: B exit $RC_B, C exit $RC_C"
for p in $P; do field_values "$(out_key "$p")" src | sed "s/^/$p /"; done | sort >"$T/srcs"
sort -u "$T/srcs" >"$T/srcs-distinct"
DISTINCT=$(wc -l <"$T/srcs-distinct")
DUPS=$(($(wc -l <"$T/srcs") - DISTINCT))
[ "$DISTINCT" -eq "$TOTAL" ] || fail "$DISTINCT distinct inputs have a verdict, of $TOTAL"
MISSING=$(comm -23 "$T/input-ids" "$T/srcs-distinct" | wc -l)
[ "$MISSING" -eq 0 ] || fail "$MISSING input entries have no verdict"
[ "$(comm -13 "$T/input-ids" "$T/srcs-distinct" | wc -l)" -eq 0 ] || fail "verdicts for entries never pushed"
echo "     $DISTINCT inputs, each with a verdict; $DUPS duplicate verdicts"
[ "$(sum_over pending)" -eq 0 ] || fail "$(sum_over pending) entries still pending"
CLAIMED=$(($(stat_of "$T/b.log" claimed) + $(stat_of "$T/c.log" claimed)))
[ "$CLAIMED" -ge "$LEFT" ] || fail "claimed $CLAIMED, but A left $LEFT"
# The three unreadable records: error records, not dead letters.
for p in $P; do field_values "$(out_key "$p")" e; done >"$T/errors"
[ "$(sort -u "$T/errors" | wc -l)" -eq 3 ] || fail "$(sort -u "$T/errors" | wc -l) distinct error records, expected 3: $(head -5 "$T/errors")"
jq -e 'has("line") and has("error")' "$T/errors" >/dev/null || fail "error records: $(head -3 "$T/errors")"
grep -q '"line":7001,' "$T/errors" || fail "the error record does not name line 7001: $(cat "$T/errors")"
[ "$(sum_over dead_len)" -eq 0 ] || fail "dead letters after a clean run"
# A verdict is the whole verdict line, and says which record it is.
field_values "$(out_key 0)" v >"$T/some-verdicts"
jq -e 'has("action") and has("rules_version") and (.id | startswith("w-"))' "$T/some-verdicts" >/dev/null ||
    fail "verdicts: $(head -c 300 "$T/some-verdicts")"
# Acknowledged input is trimmed away (no group needs it any more).
[ "$(sum_over in_len)" -eq 0 ] || fail "input not trimmed: $(sum_over in_len) entries left"
# stream status: the table and --json.
"$FANZHA" stream status --redis "$URL" >"$T/status.txt"
OUT_TOTAL=$(sum_over out_len)
awk -v t="$OUT_TOTAL" '$1 == "total" && $2 == 0 && $3 == 0 && $4 == 0 && $6 == 0 && $7 == t { found = 1 } END { exit !found }' \
    "$T/status.txt" || fail "status: $(cat "$T/status.txt")"
grep -q '^p3 ' "$T/status.txt" || fail "status has no row for p3"
"$FANZHA" stream status --redis "$URL" --json >"$T/status.json"
jq -e --argjson t "$OUT_TOTAL" '.partitions == 4 and (.by_partition | length) == 4 and .total.pending == 0
    and .total.undelivered == 0 and .total.verdicts == $t and .total.dead == 0' "$T/status.json" >/dev/null ||
    fail "status --json: $(cat "$T/status.json")"
grep -q 'fanzha worker: read [0-9]*, verdicts' "$T/b.log" || fail "no periodic stats line: $(head -3 "$T/b.log")"
ok "$TOTAL pushed, $DISTINCT with verdicts ($DUPS duplicates), $CLAIMED claimed after the kill"

# --- 2. a poison message ----------------------------------------------------------------------------

case_ "poison"
POISON='{"id":"poison","to":"13800000000","text":"【公安局】您涉嫌洗钱，请将资金转入安全账户"}'
PID_IN=$(redis_cli XADD "$(in_key 0)" '*' m "$POISON" n 1)
# A consumer that never acknowledges, then others "claiming" it: 6 deliveries.
redis_cli XREADGROUP GROUP fanzha ghost COUNT 1 STREAMS "$(in_key 0)" '>' >/dev/null
for i in 1 2 3 4 5; do redis_cli XCLAIM "$(in_key 0)" fanzha "ghost$i" 0 "$PID_IN" >/dev/null; done
DELIV=$(redis_cli XPENDING "$(in_key 0)" fanzha - + 10 | sed -n 4p)
[ "$DELIV" = 6 ] || fail "setup: $DELIV deliveries"
sleep 0.2
RC=0
timeout -s KILL 60 "$FANZHA" worker --redis "$URL" --no-warn --claim-idle 100 --max-deliveries 5 --drain \
    --forget-consumers-after 100 2>"$T/poison.log" || RC=$?
[ "$RC" -eq 0 ] || fail "worker --drain: exit $RC: $(cat "$T/poison.log")"
[ "$(dead_len 0)" -eq 1 ] || fail "$(dead_len 0) dead letters in p0"
redis_cli XRANGE "$(dead_key 0)" - + >"$T/dead.txt"
[ "$(awk 'prev == "m" { print } { prev = $0 }' "$T/dead.txt")" = "$POISON" ] || fail "dead letter lost its m field: $(cat "$T/dead.txt")"
[ "$(awk 'prev == "n" { print } { prev = $0 }' "$T/dead.txt")" = 1 ] || fail "dead letter lost its n field"
[ "$(awk 'prev == "src" { print } { prev = $0 }' "$T/dead.txt")" = "$PID_IN" ] || fail "dead letter src"
[ "$(awk 'prev == "deliveries" { print } { prev = $0 }' "$T/dead.txt")" = 7 ] || fail "dead letter deliveries: $(cat "$T/dead.txt")"
grep -q '^reason$' "$T/dead.txt" || fail "dead letter has no reason"
[ "$(pending 0)" -eq 0 ] || fail "the poison message is still pending"
# Consumers that hold nothing and were silent (the ghosts; A, B, C of case 1) are forgotten.
redis_cli XINFO CONSUMERS "$(in_key 0)" fanzha | awk 'prev == "name" { print } { prev = $0 }' >"$T/consumers"
grep -E '^(ghost[0-9]*|A|B|C)$' "$T/consumers" >/dev/null && fail "consumers not forgotten: $(tr '\n' ' ' <"$T/consumers")"
field_values "$(out_key 0)" src | grep -x "$PID_IN" >/dev/null && fail "the poison message got a verdict"
[ "$(stat_of "$T/poison.log" dead-lettered)" = 1 ] || fail "stats: $(tail -1 "$T/poison.log")"
"$FANZHA" stream status --redis "$URL" --json | jq -e '.by_partition[0].dead == 1 and .total.dead == 1' >/dev/null ||
    fail "status does not show the dead letter"
"$FANZHA" stream dead list --redis "$URL" >"$T/dead.jsonl"
[ "$(wc -l <"$T/dead.jsonl")" -eq 1 ] || fail "dead list printed $(wc -l <"$T/dead.jsonl") lines"
jq -e --arg m "$POISON" --arg src "$PID_IN" '.partition == 0 and .fields.m == $m and .fields.src == $src' \
    "$T/dead.jsonl" >/dev/null || fail "dead list: $(cat "$T/dead.jsonl")"
# Replayed, it is an ordinary entry again and gets its verdict.
"$FANZHA" stream dead replay --redis "$URL" 2>"$T/replay.log" || fail "replay: $(cat "$T/replay.log")"
grep -q '1 replayed' "$T/replay.log" || fail "replay: $(cat "$T/replay.log")"
[ "$(dead_len 0)" -eq 0 ] || fail "replayed dead letter still there"
timeout -s KILL 60 "$FANZHA" worker --redis "$URL" --no-warn --drain 2>"$T/replayed.log" || fail "worker after replay"
field_values "$(out_key 0)" v | grep '"id":"poison","action"' >/dev/null || fail "no verdict for the replayed message"
ok "delivered 7 times, dead-lettered with its fields, replayed and scored"

# --- 3. SIGTERM while busy -----------------------------------------------------------------------------

case_ "sigterm"
BEFORE=$(sum_over out_len)
"$FANZHA" stream push --redis "$URL" "$T/msgs.jsonl" 2>/dev/null
worker S "$T/s.log" --batch 64
PID_S=$WPID
wait_until 60 out_gt $((BEFORE + 500)) || fail "no progress: $(cat "$T/s.log")"
# SIGHUP under load: the rules are rebuilt and swapped in; the worker goes on.
kill -HUP "$PID_S"
wait_until 30 grep -q 'reloaded rules' "$T/s.log" || fail "no reload: $(cat "$T/s.log")"
"$FANZHA" stream push --redis "$URL" "$T/msgs.jsonl" 2>/dev/null
# SIGTERM in the middle of a batch: frozen while it holds entries, told to
# stop, thawed. It must commit that batch, then exit.
freeze_holding "$PID_S" S || fail "never caught S in the middle of a batch"
HELD=$(consumer_pending S)
kill -TERM "$PID_S"
kill -CONT "$PID_S"
wait_pid "$PID_S" 20
[ "$RC" -eq 0 ] || fail "exit $RC after SIGTERM: $(tail -3 "$T/s.log")"
[ "$(sum_over pending)" -eq 0 ] || fail "$(sum_over pending) entries pending after SIGTERM"
[ "$(sum_over in_len)" -gt 0 ] || fail "the worker had finished before SIGTERM: nothing tested"
grep -q 'stopping after the batch in flight' "$T/s.log" || fail "no stop message"
WROTE=$(($(sum_over out_len) - BEFORE))
[ "$(stat_of "$T/s.log" verdicts)" -eq "$WROTE" ] || fail "stats say $(stat_of "$T/s.log" verdicts) verdicts, streams grew by $WROTE"
# Finish the rest so that later cases start clean.
timeout -s KILL 60 "$FANZHA" worker --redis "$URL" --drain -q 2>"$T/rest.log" || fail "drain: $(cat "$T/rest.log")"
ok "reloaded under load; SIGTERM with $HELD entries in flight: exit 0 after $WROTE verdicts, nothing pending"

# --- 4. CSV, and the partition count --------------------------------------------------------------------

case_ "csv-and-count"
BEFORE=$(sum_over out_len)
printf 'id,from,to,text\nc1,95588,13800000002,"【公安局】您涉嫌洗钱，\n请将资金转入安全账户"\nc2,,13800000003,hello\n' >"$T/in.csv"
"$FANZHA" stream push --redis "$URL" "$T/in.csv" 2>"$T/csv.log" || fail "csv push: $(cat "$T/csv.log")"
grep -q 'pushed 2 ' "$T/csv.log" || fail "csv push: $(cat "$T/csv.log")"
# One recipient, one partition, however the number is written.
printf '{"id":"same-a","text":"a","to":"+86 138 0013 8000"}\n{"id":"same-b","text":"b","to":"13800138000"}\n{"id":"same-c","text":"c","to":"0086-138-0013-8000"}\n' |
    "$FANZHA" stream push --redis "$URL" - 2>/dev/null
where_is() { local p; for p in $P; do field_values "$(in_key "$p")" m | grep "\"$1\"" >/dev/null && echo "$p"; done; true; }
PA=$(where_is same-a)
[ -n "$PA" ] && [ "$PA" = "$(where_is same-b)" ] && [ "$PA" = "$(where_is same-c)" ] ||
    fail "one recipient in partitions '$PA' '$(where_is same-b)' '$(where_is same-c)'"
timeout -s KILL 60 "$FANZHA" worker --redis "$URL" --drain -q 2>/dev/null || fail "csv drain"
[ "$(($(sum_over out_len) - BEFORE))" -eq 5 ] || fail "$(($(sum_over out_len) - BEFORE)) verdicts for 5 records"
for p in $P; do field_values "$(out_key "$p")" v; done >"$T/csv-verdicts"
[ "$(grep -c '"id":"c1","action"' "$T/csv-verdicts")" -eq 1 ] || fail "CSV record over two lines not scored as one"
grep '"id":"c1".*安全账户' "$T/csv-verdicts" >/dev/null || fail "c1 lost its second line: $(grep c1 "$T/csv-verdicts")"
RC=0
"$FANZHA" stream push --redis "$URL" --partitions 8 "$T/in.csv" 2>"$T/count.log" || RC=$?
[ "$RC" -eq 2 ] || fail "--partitions 8 on a 4-partition bus: exit $RC"
grep -q 'has 4 partitions' "$T/count.log" || fail "$(cat "$T/count.log")"
RC=0
timeout -s KILL 60 "$FANZHA" worker --redis "$URL" --partitions 7 --drain 2>"$T/p7.log" || RC=$?
[ "$RC" -eq 2 ] || fail "worker --partitions 7: exit $RC: $(cat "$T/p7.log")"
ok "multi-line CSV record scored once; one recipient one partition; other counts refused"

# --- 5. Redis restarted empty under a worker -------------------------------------------------------------

case_ "redis-restart"
worker R "$T/r.log" --no-warn --claim-interval 500
PID_R=$WPID
wait_until 30 grep -q . "$T/r.log" || true          # a stats line: it is running
sleep 1
redis_kill
sleep 1.5
redis_restart || fail "redis did not restart"
URL="$REDIS_URL"
head -100 "$T/msgs.jsonl" | "$FANZHA" stream push --redis "$URL" - 2>/dev/null
wait_until 30 out_ge 100 || fail "after the restart: $(sum_over out_len) verdicts of 100: $(cat "$T/r.log")"
kill -TERM "$PID_R"
wait_pid "$PID_R" 20
[ "$RC" -eq 0 ] || fail "exit $RC"
[ "$(grep -c 'Redis is unreachable' "$T/r.log")" -eq 1 ] || fail "outage logged $(grep -c 'Redis is unreachable' "$T/r.log") times"
grep -q 'Redis is reachable again' "$T/r.log" || fail "no recovery message"
grep -q 'group was gone' "$T/r.log" || fail "group not recreated: $(cat "$T/r.log")"
cat "$T"/*.log >"$T/all.log"
LEAKED=$(numbers_in "$T/all.log" 13800000000 13800000001 13810000000 13810007000 13810019999 13800138000)
[ -z "$LEAKED" ] || fail "phone numbers in what the workers printed: $LEAKED"
ok "outage reported once, group recreated, 100 new verdicts"

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
fi
echo "all worker checks passed"
