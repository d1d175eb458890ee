#!/bin/bash
# tests/faults/run.sh — the fault-injection suite: each row of DESIGN.md §10
# played against real processes (fanzha scan / serve / worker / outbox
# deliver, redis-server, the fault-injecting gateway tests/gateway/receiver.py)
# on loopback ports, with a table of what went in and what came out:
#
#   a.  Redis SIGKILLed and restarted under `fanzha scan --redis --warn` while
#       `fanzha outbox deliver --follow` runs: one verdict or error record per
#       input line, degraded messages counted, every queued warning delivered;
#   a2. Redis SIGKILLed and restarted under `fanzha serve --redis` answering
#       concurrent batches: every batch answered in full, degraded counted;
#   b.  the gateway down (503 + Retry-After, then connection resets) under
#       `outbox deliver --follow`, then back: every warning accepted exactly
#       once (no duplicate even by Idempotency-Key);
#   b2. the gateway hanging past the client's timeout (it accepts what the
#       client gave up on): every warning accepted, re-sends carry the same
#       Idempotency-Key (counted as "same key" duplicates, allowed);
#   c.  `fanzha worker`: two workers on a pushed stream, one frozen with
#       entries pending and SIGKILLed; the other claims them; every entry
#       gets a verdict (distinct src in the verdict streams), duplicates counted;
#   d.  `fanzha serve` under concurrent /v1/check/batch load while
#       /v1/rules/reload and SIGHUP swap between two rule packs; every batch
#       answered in full; d2: `fanzha scan` with SIGHUP every 0.2 s;
#   e.  a broken rule pack pushed to a running server (bad YAML, bad regex,
#       duplicate id, a file over the size limit, a regex too large):
#       422 with file:line:col, scoring goes on with the running pack; fixed:
#       reload 200;
#   f.  hostile input to scan (JSONL, CSV) and serve: invalid UTF-8, a 10 MB
#       line, 100k '[' and 100k nested objects, NULs, control characters,
#       empty and missing text, unbalanced CSV quotes, raw HTTP garbage:
#       read = verdicts + errors, the process survives, 400/413 and serving on.
#
# Table columns: messages in / verdicts out / error records / messages lost;
# warnings queued / delivered (distinct Idempotency-Keys the gateway accepted)
# / duplicated (requests for a key already accepted) / lost (queued, not
# delivered) / not queued (expected by a fault-free run of the same input, not
# queued: the registry could not be read while Redis was down — a known
# limitation, reported, not failed). The suite FAILS (exit 1) when a message
# or a queued warning is lost, when a warning is duplicated where no request
# was left unanswered, or when any other check of a row fails.
#
# Usage: tests/faults/run.sh [--bounded] [--only a,b,...] [--keep]
#   --bounded  small sizes (the ctest entry tests/cli/test_faults.sh): about
#              2-3 minutes under the ASan build; without it sizes are 10x
#   --only     run these rows only (a a2 b b2 c d d2 e f)
#   --keep     keep the temporary directory
# Needs: FANZHA (the binary; default $SRC/build/fanzha), SRC (default: this
# checkout), redis-server, redis-cli, curl, jq, python3. FANZHA_CACHE is used
# when set. Redis for row a runs with appendfsync always (a PATH shim adds the
# flags to tests/cli/redis.sh's command line): an outbox in a Redis that
# loses acknowledged writes on a crash cannot keep "nothing lost".
set -euo pipefail

SRC="${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
FANZHA="${FANZHA:-$SRC/build/fanzha}"
BOUNDED=0
ONLY=""
KEEP=""
while [ $# -gt 0 ]; do
    case "$1" in
    --bounded) BOUNDED=1 ;;
    --only) ONLY=",$2,"; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$FANZHA" ] || { echo "run.sh: no fanzha binary at $FANZHA (set FANZHA)" >&2; exit 2; }
for tool in redis-server redis-cli curl jq python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "run.sh needs $tool" >&2; exit 2; }
done

export FANZHA_CACHE="${FANZHA_CACHE:-}"
export FANZHA_HASH_KEY="fault suite sealing key"
unset FANZHA_REDIS FANZHA_CONFIG FANZHA_RULES FANZHA_API_TOKENS FANZHA_ADMIN_TOKENS
T=$(mktemp -d "${TMPDIR:-/tmp}/fanzha-faults.XXXXXX")
export FANZHA_STATE_DIR="$T/state"
# shellcheck source=../cli/lib.sh
. "$SRC/tests/cli/lib.sh"
# shellcheck source=../cli/redis.sh
. "$SRC/tests/cli/redis.sh"
# Each row runs in a subshell (a command failing under set -e ends that
# row, not the suite): failures are lines of $T/fails, and what a row started
# is stopped when it ends (stop_started, from its EXIT trap).
fail() { echo "FAIL [$CASE]: $*" >&2; FAILS=$((FAILS + 1)); echo "$CASE: $*" >>"$T/fails"; }
stop_started() {
    stop_pids "${BG_PIDS[@]:$1}" "${SERVER_PIDS[@]:$2}"
    redis_stop
}
cleanup() {
    redis_stop
    if [ -n "$KEEP" ]; then echo "kept $T" >&2; T=/nonexistent-kept; fi
    lib_cleanup
}
trap cleanup EXIT

# Sizes: bounded / full.
sz() { if [ "$BOUNDED" = 1 ]; then echo "$1"; else echo "$2"; fi; }
want() { [ -z "$ONLY" ] || [[ "$ONLY" == *",$1,"* ]]; }

CLIENT="fault-client-$$-0123456789abcdef"
ADMIN="fault-admin-$$-0123456789abcdef"
POLICE='【公安局】您涉嫌一起洗钱案件，案件编号3381，请立即将资金转入安全账户配合调查，切勿告知他人。'
SCAM='【公安局】你涉嫌洗钱，请立即将资金转入安全账户 6222021234567890123，否则冻结'

# --- the table ------------------------------------------------------------------------------------

ROWS="$T/rows"
: >"$ROWS"
# row NAME IN OUT ERR LOST WQ WD WDUP WLOST NOTQ: one line of the table; the
# row's status is FAIL when a check of its case failed.
row() {
    local status=ok
    [ "$FAILS" -eq "$CASE_FAILS" ] || status=FAIL
    printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$@" "$status" >>"$ROWS"
}
print_table() {
    # Columns padded to their widest cell (awk: no dependency on column(1)).
    {
        echo "scenario|messages in|verdicts out|errors|lost|warnings queued|delivered|duplicated|lost|not queued|status"
        cat "$ROWS"
    } | awk -F'|' '
        { n = NR; for (i = 1; i <= NF; i++) { cell[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) } nf = NF }
        END { for (r = 1; r <= n; r++) { line = ""; for (i = 1; i <= nf; i++) line = line sprintf("%s%-*s", i > 1 ? " | " : "", w[i], cell[r, i]); print line } }'
}

# --- helpers --------------------------------------------------------------------------------------

# The base messages: the bundled corpora without ids or labels, one JSON
# object a line starting with '{"'.
jq -c 'del(.id, .label, .family)' "$SRC"/tests/data/corpus/*.jsonl "$SRC/tests/data/sample-sms.jsonl" >"$T/base.jsonl"

# gen N NR MALFORMED_EVERY: N lines with ids f-0..f-(N-1): the base messages
# in turn, a police scam to resident k (1360200000k) every N/NR lines, and a
# malformed line every MALFORMED_EVERY lines (0: none).
gen() {
    awk -v n="$1" -v nr="$2" -v bad="$3" -v p="$POLICE" '
        { base[NR] = $0 }
        END {
            step = nr ? int(n / nr) : 0; k = 0
            for (i = 0; i < n; i++) {
                if (bad && i % bad == bad - 1) { printf "{\"id\":\"f-%d\",\"text\":\"broken\n", i; continue }
                if (step && i % step == int(step / 2) && k < nr) {
                    k++
                    printf "{\"id\":\"f-%d\",\"from\":\"17012345678\",\"to\":\"1360200%04d\",\"text\":\"%s\"}\n", i, k, p
                    continue
                }
                printf "{\"id\":\"f-%d\",%s\n", i, substr(base[i % NR + 1], 2)
            }
        }' "$T/base.jsonl"
}

# residents NR FILE: NR residents 1360200000k, each with a guardian.
residents() {
    local i
    for i in $(seq 1 "$1"); do
        printf '{"number":"1360200%04d","guardians":["1390200%04d"]}\n' "$i" "$i"
    done >"$2"
}

# The number after WORD in the last line of FILE starting with PREFIX.
# (|| true: a missing line is an empty answer, not the end of the suite.)
count_after() { { grep "^$2" "$1" || true; } | tail -1 | sed -n "s/.*[ ,(]$3 \([0-9][0-9]*\).*/\1/p"; }
summary() { count_after "$1" 'fanzha scan: read ' "$2"; }
warned() { { grep '^fanzha scan: warnings queued ' "$1" || true; } | tail -1 | sed -n "s/.*$2 \([0-9][0-9]*\).*/\1/p"; }
degraded() { { grep '^fanzha scan: state ' "$1" || true; } | tail -1 | sed -n 's/.* \([0-9]*\) messages scored without state.*/\1/p'; }
reconnects() { { grep '^fanzha scan: state ' "$1" || true; } | tail -1 | sed -n 's/.* \([0-9]*\) reconnects.*/\1/p'; }

# ids_lost EXPECTED_IDS OUT ERR: "LOST DUP": expected ids (f-N) without a
# verdict or an error record (error records name their line: f-(line-1)),
# and ids answered more than once.
ids_lost() {
    { sed -n 's/^{"id":"\(f-[0-9]*\)".*/\1/p' "$2"; sed -n 's/^{"line":\([0-9]*\),.*/\1/p' "$3" | awk '{ print "f-" ($1 - 1) }'; } |
        sort >"$T/ids.got"
    sort -u "$T/ids.got" >"$T/ids.uniq"
    echo "$(comm -23 "$1" "$T/ids.uniq" | wc -l) $(($(wc -l <"$T/ids.got") - $(wc -l <"$T/ids.uniq")))"
}

# The fault-injecting gateway, shared by the rows (its counters reset per row).
receiver_start || exit 1
# gw_config FILE TIMEOUT_MS: a gateway section for receiver.py.
gw_config() {
    cat >"$1" <<EOF
gateway:
  url: $RX_URL/v1/warnings
  body: '{"to":"{{to}}","text":"{{text}}","ref":"{{id}}"}'
  timeout_ms: $2
  concurrency: 8
  max_attempts: 1000
  backoff_base_ms: 200
  backoff_max_ms: 1000
  retry_after_max_s: 2
EOF
}
rx() { rx_stats | jq -r ".$1"; }

# outbox_drained STATE-ARGS...: `fanzha outbox` answers with nothing ready or scheduled.
outbox_drained() {
    local out
    out=$("$FANZHA" outbox "$@" 2>/dev/null) || return 1
    jq -e '.ready == 0 and .scheduled == 0' <<<"$out" >/dev/null 2>&1
}

# expected_warnings NR LINES-FILE: warnings a fault-free run queues for these
# lines (a fresh embedded store with the same residents).
expected_warnings() {
    local d="$T/expect.$RANDOM"
    FANZHA_STATE_DIR="$d" "$FANZHA" resident import "$T/res.$1.jsonl" >/dev/null 2>&1
    FANZHA_STATE_DIR="$d" "$FANZHA" scan --warn -o /dev/null "$2" 2>"$d.log" || true
    warned "$d.log" queued
}

# serve_with DIR ARGS...: lib.sh's serve_start with the fault suite's
# tokens and a state directory in DIR; a failure to start is the row's.
serve_with() {
    local dir="$1"
    shift
    FANZHA_API_TOKENS="$CLIENT" FANZHA_ADMIN_TOKENS="$ADMIN" serve_start "$dir" --state-dir "$dir/state" --threads 2 \
        "$@" || { fail "fanzha serve did not start"; return 1; }
}
# post TOKEN PATH FILE OUT: POST FILE; the status code on stdout (000: no answer).
post() { curl -s -o "$4" -w '%{http_code}' -H "Authorization: Bearer $1" --data-binary @"$3" "$URL$2" || true; }
check_one() {
    local code
    code=$(curl -s -o "$T/one.out" -w '%{http_code}' -H "Authorization: Bearer $CLIENT" \
        -d "{\"text\":\"$SCAM\"}" "$URL/v1/check" || true)
    [ "$code" = 200 ] && [ "$(jq -r .action "$T/one.out" 2>/dev/null)" = block ]
}

# --- a. Redis killed and restarted mid-stream -------------------------------------------------------

scenario_a() {
    case_ "a.redis-kill"
    local N NR dir="$T/a" pid dpid chunk C from to R V E lost dup q spooled notq dead expected failed
    N=$(sz 20000 200000)
    NR=$(sz 20 50)
    mkdir -p "$dir/bin"
    printf '#!/bin/sh\nexec %s "$@" --appendonly yes --appendfsync always\n' "$(command -v redis-server)" >"$dir/bin/redis-server"
    chmod +x "$dir/bin/redis-server"
    PATH="$dir/bin:$PATH" redis_start || { fail "redis did not start"; return; }
    export FANZHA_STATE_DIR="$dir/state"
    residents "$NR" "$T/res.$NR.jsonl"
    "$FANZHA" resident import --redis "$REDIS_URL" "$T/res.$NR.jsonl" >/dev/null 2>"$dir/import.err" ||
        fail "resident import: $(cat "$dir/import.err")"
    gen "$N" "$NR" 5000 >"$dir/in.jsonl"
    sed -n 's/^{"id":"\(f-[0-9]*\)".*/\1/p' "$dir/in.jsonl" | sort >"$dir/ids"
    grep '"to":"1360200' "$dir/in.jsonl" >"$dir/res-lines.jsonl"
    rx_control '{"mode":"ok","retry_after":null,"reset_stats":true}'
    gw_config "$dir/gw.yaml" 3000
    "$FANZHA" outbox deliver --follow -q --redis "$REDIS_URL" --config "$dir/gw.yaml" >"$dir/deliver.out" 2>"$dir/deliver.err" &
    dpid=$!
    BG_PIDS+=("$dpid")
    mkfifo "$dir/fifo"
    "$FANZHA" scan --redis "$REDIS_URL" --warn --threads 2 -o "$dir/out" --errors "$dir/err" <"$dir/fifo" 2>"$dir/log" &
    pid=$!
    BG_PIDS+=("$pid")
    exec 3>"$dir/fifo"
    C=$((N / 10))
    for chunk in $(seq 1 10); do
        from=$(((chunk - 1) * C + 1))
        to=$((chunk * C))
        sed -n "${from},${to}p" "$dir/in.jsonl" >&3 || { fail "fanzha scan stopped reading: $(tail -2 "$dir/log")"; break; }
        wait_for 120 eval '[ $(($(lines "$dir/out") + $(lines "$dir/err"))) -ge '"$to"' ]' ||
            fail "chunk $chunk: not scored ($(lines "$dir/out") verdicts so far)"
        case "$chunk" in
        3) redis_kill ;;
        6) sleep 0.5; PATH="$dir/bin:$PATH" redis_restart || fail "redis did not restart" ;;
        *) sleep 0.3 ;;
        esac
    done
    exec 3>&-
    wait_pid "$pid" 120
    [ "$RC" -eq 0 ] || fail "scan exit $RC: $(tail -3 "$dir/log")"
    R=$(summary "$dir/log" read)
    V=$(summary "$dir/log" verdicts)
    E=$(summary "$dir/log" errors)
    read -r lost dup < <(ids_lost "$dir/ids" "$dir/out" "$dir/err")
    [ "${R:-x}" = "$N" ] && [ "$R" -eq $((V + E)) ] || fail "summary: $(grep '^fanzha scan: read' "$dir/log")"
    [ "$lost" = 0 ] && [ "$dup" = 0 ] || fail "$lost input lines without an answer, $dup answered twice"
    [ "$(lines "$dir/err")" -eq "$E" ] && [ "$E" -eq $((N / 5000)) ] || fail "$(lines "$dir/err") error records, expected $((N / 5000))"
    [ "$(degraded "$dir/log")" -gt 0 ] && [ "$(reconnects "$dir/log")" -ge 1 ] ||
        fail "the outage is not in the state line: $(grep '^fanzha scan: state' "$dir/log")"
    # Resident messages without a warning were all scored without state (during the outage).
    sed -n 's/^{"id":"\(f-[0-9]*\)".*/\1/p' "$dir/res-lines.jsonl" >"$dir/res-ids"
    awk 'NR == FNR { want["{\"id\":\"" $1 "\","] = 1; next } substr($0, 1, index($0, ",")) in want' "$dir/res-ids" "$dir/out" >"$dir/res-verdicts"
    [ "$(lines "$dir/res-verdicts")" -eq "$NR" ] || fail "$(lines "$dir/res-verdicts") verdicts for $NR resident messages"
    { grep -v '"warning":' "$dir/res-verdicts" || true; } | { grep '"cache":' || true; } >"$dir/unwarned-with-state"
    [ ! -s "$dir/unwarned-with-state" ] || fail "residents not warned while Redis was up: $(head -1 "$dir/unwarned-with-state")"
    q=$(warned "$dir/log" queued)
    spooled=$(warned "$dir/log" spooled)
    failed=$(warned "$dir/log" failed)
    # Every queued warning reaches the gateway.
    wait_for 60 eval '[ "$(rx accepted)" -ge "$q" ] && outbox_drained --redis "$REDIS_URL"' ||
        fail "not drained 60 s after the scan: $(rx_stats) / $("$FANZHA" outbox --redis "$REDIS_URL" 2>&1)"
    kill -TERM "$dpid" 2>/dev/null || true
    wait_pid "$dpid" 30
    [ "$RC" -eq 0 ] || fail "deliver --follow exit $RC after SIGTERM: $(tail -2 "$dir/deliver.err")"
    dead=$("$FANZHA" outbox --redis "$REDIS_URL" 2>/dev/null | jq -r .dead)
    [ "$dead" = 0 ] || fail "$dead dead letters"
    expected=$(expected_warnings "$NR" "$dir/res-lines.jsonl")
    notq=$((expected - q))
    [ "$expected" -eq $((2 * NR)) ] || fail "a fault-free run queues $expected warnings, expected $((2 * NR))"
    [ "$notq" -ge 0 ] && [ "$notq" -le "${failed:-0}" ] || fail "$notq warnings neither queued nor counted failed ($failed)"
    row "a. redis killed+restarted (scan --redis --warn)" "$N" "$V" "$E" "$lost" "$q (spooled $spooled)" "$(rx accepted)" \
        "$(rx duplicates) (same key)" $((q - $(rx accepted))) "$notq"
    [ "$(rx accepted)" -eq "$q" ] || fail "queued $q, delivered $(rx accepted)"
    ok "$N lines: $V verdicts, $E errors, $(degraded "$dir/log") degraded; warnings $q queued, $(rx accepted) delivered; $notq not queued (registry unreadable)"
    cat "$dir/log" "$dir/err" "$dir/deliver.err" >>"$T/public.log"
    redis_stop
}

# --- b. the gateway down for a while, then back ------------------------------------------------------

# gateway_row NAME DIR MODES...: NR residents warned through `deliver --follow`
# while the gateway goes through MODES ("503:SECONDS", "reset:SECONDS",
# "hang:SECONDS"), then answers ok; DUP_OK=1 allows same-key re-sends.
gateway_row() {
    local name="$1" dir="$2" NR=10 q dpid="" m mode secs timeout=2000 dup ra
    shift 2
    mkdir -p "$dir"
    export FANZHA_STATE_DIR="$dir/state"
    residents "$NR" "$T/res.$NR.jsonl"
    "$FANZHA" resident import "$T/res.$NR.jsonl" >/dev/null 2>&1 || fail "resident import"
    gen "$NR" "$NR" 0 >"$dir/in.jsonl"
    "$FANZHA" scan --warn -o "$dir/out" "$dir/in.jsonl" 2>"$dir/log" || fail "scan: $(tail -2 "$dir/log")"
    q=$(warned "$dir/log" queued)
    [ "$q" -eq $((2 * NR)) ] || fail "queued $q, expected $((2 * NR))"
    for m in "$@"; do [ "${m%%:*}" != hang ] || timeout=500; done
    gw_config "$dir/gw.yaml" "$timeout"
    rx_control '{"mode":"ok","retry_after":null,"hang_ms":1500,"reset_stats":true}'
    for m in "$@"; do
        mode=${m%%:*}
        ra=null
        [ "$mode" != 503 ] || ra=1
        rx_control "{\"mode\":\"$mode\",\"retry_after\":$ra}"
        if [ -z "$dpid" ]; then
            "$FANZHA" outbox deliver --follow --config "$dir/gw.yaml" >"$dir/deliver.out" 2>"$dir/deliver.err" &
            dpid=$!
            BG_PIDS+=("$dpid")
        fi
        secs=${m#*:}
        sleep "$secs"
        [ "$mode" = hang ] || [ "$(rx accepted)" = 0 ] || fail "accepted during $mode: $(rx_stats)"
        kill -0 "$dpid" 2>/dev/null || fail "the deliverer stopped during $mode: $(tail -2 "$dir/deliver.err")"
        [ "$("$FANZHA" outbox 2>/dev/null | jq -r .dead)" = 0 ] || fail "dead letters during $mode"
    done
    [ "$(rx requests)" -gt "$q" ] || fail "no retries during the outage: $(rx_stats)"
    rx_control '{"mode":"ok"}'
    wait_for 60 eval '[ "$(rx accepted)" -ge "$q" ] && outbox_drained' ||
        fail "not drained 60 s after the gateway came back: $(rx_stats)"
    kill -TERM "$dpid" 2>/dev/null || true
    wait_pid "$dpid" 30
    [ "$RC" -eq 0 ] || fail "deliver --follow exit $RC after SIGTERM"
    [ "$(rx keys)" -eq "$q" ] || fail "$(rx keys) distinct keys for $q warnings"
    dup=$(rx duplicates)
    if [ "${DUP_OK:-0}" = 1 ]; then
        dup="$dup (same key)"
    else
        [ "$dup" = 0 ] || fail "$dup warnings accepted twice"
    fi
    row "$name" "$NR" "$(lines "$dir/out")" 0 $((NR - $(lines "$dir/out"))) "$q" "$(rx accepted)" "$dup" \
        $((q - $(rx accepted))) 0
    [ "$(rx accepted)" -eq "$q" ] || fail "queued $q, delivered $(rx accepted)"
    ok "$q warnings: $(rx requests) requests, $(rx accepted) accepted, $(rx duplicates) duplicates; $(grep '^fanzha outbox: [0-9]* attempts' "$dir/deliver.err" | tail -1)"
    cat "$dir/deliver.err" >>"$T/public.log"
}

scenario_b() {
    case_ "b.gateway-down"
    local s
    s=$(sz 2 10)
    gateway_row "b. gateway 503 ${s}s, resets ${s}s, back" "$T/b" "503:$s" "reset:$s"
}

scenario_b2() {
    case_ "b2.gateway-hangs"
    DUP_OK=1 gateway_row "b2. gateway hangs past timeout $(sz 2 10)s, back" "$T/b2" "hang:$(sz 2 10)"
}

# --- c. a worker killed mid-batch ---------------------------------------------------------------------

# pending_of CONSUMER: entries pending for CONSUMER over the input partitions.
pending_of() {
    local p n=0 c
    for p in $(seq 0 $((PARTS - 1))); do
        c=$(redis_cli --raw XPENDING "fz:in:{p$p}" fanzha - + 100000 "$1" 2>/dev/null | grep -c '^[0-9]*-[0-9]*$' || true)
        n=$((n + c))
    done
    echo "$n"
}

scenario_c() {
    case_ "c.worker-kill"
    local N dir="$T/c" w1 w2 p i pend total distinct ver errs claimed
    if ! "$FANZHA" worker --help >/dev/null 2>&1; then
        row "c. worker killed mid-batch (no fanzha worker)" - - - - - - - - -
        return
    fi
    N=$(sz 20000 200000)
    PARTS=4
    mkdir -p "$dir"
    redis_start || { fail "redis did not start"; return; }
    gen "$N" 0 2500 >"$dir/in.jsonl"
    "$FANZHA" stream push --redis "$REDIS_URL" --partitions "$PARTS" "$dir/in.jsonl" >"$dir/push.out" 2>"$dir/push.err" ||
        fail "push: $(cat "$dir/push.err")"
    grep -q "pushed $N " "$dir/push.err" "$dir/push.out" || fail "push: $(cat "$dir/push.out" "$dir/push.err")"
    export FANZHA_STATE_DIR="$dir/state"
    wk() {
        "$FANZHA" worker --redis "$REDIS_URL" --consumer "$1" --batch 256 --claim-idle 1500 --claim-interval 300 \
            --no-warn --stats-interval 1 >"$dir/$1.out" 2>"$dir/$1.err" &
        BG_PIDS+=($!)
    }
    wk w1
    w1=$!
    wk w2
    w2=$!
    # Freeze w1 while it holds entries, then kill it: they stay pending.
    pend=0
    for i in $(seq 1 400); do
        if [ "$(pending_of w1)" -gt 0 ]; then
            kill -STOP "$w1"
            pend=$(pending_of w1)
            [ "$pend" -gt 0 ] && break
            kill -CONT "$w1"
        fi
        sleep 0.02
    done
    kill -9 "$w1" 2>/dev/null || true
    kill -CONT "$w1" 2>/dev/null || true
    wait "$w1" 2>/dev/null || true
    [ "$pend" -gt 0 ] || fail "w1 was never caught with entries pending"
    # w2 finishes the stream, claiming w1's entries once they are idle.
    wait_for 180 eval '"$FANZHA" stream status --redis "$REDIS_URL" --json 2>/dev/null |
        jq -e ".total.undelivered == 0 and .total.pending == 0 and .total.verdicts >= $N" >/dev/null' ||
        fail "not finished: $("$FANZHA" stream status --redis "$REDIS_URL" 2>&1 | tail -1)"
    kill -TERM "$w2" 2>/dev/null || true
    wait_pid "$w2" 30
    [ "$RC" -eq 0 ] || fail "w2 exit $RC after SIGTERM: $(tail -2 "$dir/w2.err")"
    claimed=$({ grep 'claimed' "$dir/w2.err" || true; } | tail -1 | sed -n 's/.*claimed \([0-9]*\).*/\1/p')
    [ "${claimed:-0}" -ge "$pend" ] || fail "w2 claimed ${claimed:-0}, w1 left $pend pending: $(tail -1 "$dir/w2.err")"
    # src is the input entry's id, unique within its partition.
    : >"$dir/verdicts"
    : >"$dir/srcs"
    for p in $(seq 0 $((PARTS - 1))); do
        redis_cli --raw XRANGE "fz:verdicts:{p$p}" - + >"$dir/verdicts.p$p"
        awk -v p="$p" 'prev == "src" { print p ":" $0 } { prev = $0 }' "$dir/verdicts.p$p" >>"$dir/srcs"
        cat "$dir/verdicts.p$p" >>"$dir/verdicts"
    done
    total=$(lines "$dir/srcs")
    distinct=$(sort -u "$dir/srcs" | wc -l)
    ver=$(awk 'prev == "v" { n++ } { prev = $0 } END { print n + 0 }' "$dir/verdicts")
    errs=$(awk 'prev == "e" { n++ } { prev = $0 } END { print n + 0 }' "$dir/verdicts")
    [ "$distinct" -eq "$N" ] || fail "$distinct entries with a verdict of $N"
    [ "$errs" -ge $((N / 2500)) ] || fail "$errs error records, expected $((N / 2500))"
    row "c. worker SIGKILLed mid-batch ($pend pending, $((total - distinct)) scored twice)" "$N" "$ver" "$errs" $((N - distinct)) - - - - -
    ok "$N entries: $distinct with a verdict ($((total - distinct)) twice); w1 killed with $pend pending, w2 claimed $claimed"
    cat "$dir"/w*.err >>"$T/public.log"
    redis_stop
}

# --- d. rules reloaded repeatedly under load --------------------------------------------------------

# Two packs A and B (B: a comment more, so another version) and a link that
# is switched between them atomically.
make_packs() {
    local dir="$1"
    rm -rf "$dir/A" "$dir/B"
    cp -r "$SRC/rules" "$dir/A"
    cp -r "$SRC/rules" "$dir/B"
    printf '\n# fault suite: pack B\n' >>"$dir/B/policy.yaml"
    ln -sfn A "$dir/rules"
    # Compile both once (cached), so a reload takes milliseconds.
    for p in A B; do
        echo '{"text":"x"}' | "$FANZHA" scan --rules "$dir/$p" --state none -q >/dev/null
    done
}
swap_pack() {
    local dir="$1" next=A
    [ "$(readlink "$dir/rules")" = B ] || next=B
    ln -sfn "$next" "$dir/rules.new"
    mv -T "$dir/rules.new" "$dir/rules"
}

# batch_load DIR K END: K clients POSTing DIR/batch to /v1/check/batch in a
# loop until the time END; each writes DIR/load.k: "code lines verdicts errors"
# per batch, and the rules versions it saw to DIR/versions.k. Sets LOAD_PIDS.
batch_load() {
    local dir="$1" k
    LOAD_PIDS=()
    for k in $(seq 1 "$2"); do
        (
            i=0
            while [ "$(date +%s)" -lt "$3" ]; do
                i=$((i + 1))
                code=$(post "$CLIENT" /v1/check/batch "$dir/batch" "$dir/load.$k.$i")
                echo "$code $(lines "$dir/load.$k.$i") $(grep -c '"action":' "$dir/load.$k.$i" || true) $(grep -c '^{"line":' "$dir/load.$k.$i" || true)"
                { grep -o '"rules_version":"[^"]*"' "$dir/load.$k.$i" || true; } | sort -u >>"$dir/versions.$k"
                rm -f "$dir/load.$k.$i"
            done >"$dir/load.$k"
        ) &
        LOAD_PIDS+=($!)
        BG_PIDS+=($!)
    done
}
# load_tally DIR K LINES ERRORS: waits for the clients, then sets BATCHES,
# IN, OUT, ERRS and BAD (batches not answered 200 with LINES lines, ERRORS
# of them error records).
load_tally() {
    local dir="$1" k code l v e
    wait "${LOAD_PIDS[@]}" 2>/dev/null || true
    BATCHES=0 IN=0 OUT=0 ERRS=0 BAD=0
    for k in $(seq 1 "$2"); do
        while read -r code l v e; do
            BATCHES=$((BATCHES + 1))
            IN=$((IN + $3))
            OUT=$((OUT + v))
            ERRS=$((ERRS + e))
            [ "$code" = 200 ] && [ "$l" = "$3" ] && [ "$e" = "$4" ] || BAD=$((BAD + 1))
        done <"$dir/load.$k"
    done
}

scenario_d() {
    case_ "d.reload-under-load"
    local dir="$T/d" DUR K=3 end n code reloads=0 hups=0 vers
    DUR=$(sz 8 60)
    mkdir -p "$dir"
    make_packs "$dir"
    { cat "$T/base.jsonl"; printf 'not json\n{"text":""}\n{"id":1}\n'; } >"$dir/batch"
    n=$(lines "$dir/batch")
    serve_with "$dir" --rules "$dir/rules" --no-warn || return
    end=$(($(date +%s) + DUR))
    batch_load "$dir" "$K" "$end"
    while [ "$(date +%s)" -lt "$end" ]; do
        swap_pack "$dir"
        if [ $(((reloads + hups) % 2)) = 0 ]; then
            code=$(curl -s -o "$dir/reload.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" "$URL/v1/rules/reload" || true)
            [ "$code" = 200 ] && [ "$(jq -r .reloaded "$dir/reload.out")" = true ] || fail "reload: $code $(cat "$dir/reload.out")"
            reloads=$((reloads + 1))
        else
            kill -HUP "$SV_PID" 2>/dev/null || fail "SIGHUP: the server is gone"
            hups=$((hups + 1))
        fi
        sleep 0.25
    done
    load_tally "$dir" "$K" "$n" 3
    [ "$BAD" = 0 ] || fail "$BAD of $BATCHES batches not answered in full"
    [ "$BATCHES" -ge $K ] || fail "only $BATCHES batches"
    vers=$(cat "$dir"/versions.* 2>/dev/null | sort -u | wc -l || true)
    [ "$vers" -ge 2 ] || fail "the verdicts name $vers rules version(s); the reloads did not take"
    kill -0 "$SV_PID" 2>/dev/null || fail "the server died"
    check_one || fail "no verdict after the reloads"
    [ "$(grep -c 'reloaded rules' "$dir/serve.log")" -ge $((reloads + hups - 2)) ] ||
        fail "$(grep -c 'reloaded rules' "$dir/serve.log") reloads logged of $((reloads + hups))"
    row "d. serve: $reloads reloads + $hups SIGHUP under $K-way batch load" "$IN" "$OUT" "$ERRS" $((IN - OUT - ERRS)) - - - - -
    ok "$BATCHES batches of $n lines, all complete, $vers versions seen; $reloads POST reloads, $hups SIGHUPs"
    cat "$dir/serve.log" >>"$T/public.log"
}

# --- a2. Redis killed and restarted under fanzha serve --redis ---------------------------------------

scenario_a2() {
    case_ "a2.redis-kill-serve"
    local dir="$T/a2" K=3 end n t0 deg
    mkdir -p "$dir"
    redis_start || { fail "redis did not start"; return; }
    { cat "$T/base.jsonl"; printf 'not json\n'; } >"$dir/batch"
    n=$(lines "$dir/batch")
    serve_with "$dir" --redis "$REDIS_URL" --no-warn || return
    t0=$(date +%s)
    end=$((t0 + $(sz 8 40)))
    batch_load "$dir" "$K" "$end"
    sleep "$(sz 2 10)"
    redis_kill
    sleep "$(sz 3 15)"
    redis_restart || fail "redis did not restart"
    load_tally "$dir" "$K" "$n" 1
    [ "$BAD" = 0 ] || fail "$BAD of $BATCHES batches not answered in full"
    [ "$BATCHES" -ge $K ] || fail "only $BATCHES batches"
    kill -0 "$SV_PID" 2>/dev/null || fail "the server died"
    check_one || fail "no verdict after the restart"
    deg=$(curl -s -H "Authorization: Bearer $CLIENT" "$URL/metrics" | awk '/degraded/ && !/^#/ { s += $2 } END { print s + 0 }')
    [ "$deg" -gt 0 ] || fail "no degraded messages in /metrics"
    row "a2. redis killed+restarted (serve --redis, $K-way batches)" "$IN" "$OUT" "$ERRS" $((IN - OUT - ERRS)) - - - - -
    ok "$BATCHES batches of $n lines through a Redis kill and restart, all complete; degraded (metrics) $deg"
    cat "$dir/serve.log" >>"$T/public.log"
    redis_stop
}

scenario_d2() {
    case_ "d2.scan-sighup"
    local dir="$T/d2" N pid hpid R V E lost dup h
    N=$(sz 20000 200000)
    mkdir -p "$dir"
    make_packs "$dir"
    gen "$N" 0 5000 >"$dir/in.jsonl"
    sed -n 's/^{"id":"\(f-[0-9]*\)".*/\1/p' "$dir/in.jsonl" | sort >"$dir/ids"
    mkfifo "$dir/fifo"
    "$FANZHA" scan --rules "$dir/rules" --state none --threads 2 -o "$dir/out" --errors "$dir/err" <"$dir/fifo" 2>"$dir/log" &
    pid=$!
    BG_PIDS+=("$pid")
    exec 4>"$dir/fifo"
    # Feed in 20 pieces while SIGHUP arrives every 0.2 s, from the first
    # verdict on (before that, the signal would hit the shell that is
    # opening the FIFO for fanzha, not fanzha).
    split -n l/20 "$dir/in.jsonl" "$dir/piece."
    hpid=""
    for p in "$dir"/piece.*; do
        cat "$p" >&4 || { fail "fanzha scan stopped reading: $(tail -2 "$dir/log")"; break; }
        if [ -z "$hpid" ]; then
            wait_for 60 test -s "$dir/out" || fail "no verdict 60 s after the first piece"
            (
                exec 4>&- # or the FIFO never ends
                while kill -0 "$pid" 2>/dev/null; do
                    swap_pack "$dir"
                    kill -HUP "$pid" 2>/dev/null || true
                    sleep 0.2
                done
            ) &
            hpid=$!
            BG_PIDS+=("$hpid")
        fi
        sleep 0.25
    done
    exec 4>&-
    wait_pid "$pid" 120
    [ "$RC" -eq 0 ] || fail "scan exit $RC: $(tail -3 "$dir/log")"
    kill "$hpid" 2>/dev/null || true
    wait "$hpid" 2>/dev/null || true
    R=$(summary "$dir/log" read)
    V=$(summary "$dir/log" verdicts)
    E=$(summary "$dir/log" errors)
    read -r lost dup < <(ids_lost "$dir/ids" "$dir/out" "$dir/err")
    [ "${R:-x}" = "$N" ] && [ "$R" -eq $((V + E)) ] || fail "summary: $(grep '^fanzha scan: read' "$dir/log")"
    [ "$lost" = 0 ] && [ "$dup" = 0 ] || fail "$lost lines without an answer, $dup answered twice"
    # In input order.
    sed -n 's/^{"id":"f-\([0-9]*\)".*/\1/p' "$dir/out" >"$dir/order"
    sort -n -c "$dir/order" 2>/dev/null || fail "verdicts out of order"
    h=$(grep -c 'reloaded rules' "$dir/log" || true)
    [ "$h" -ge 5 ] || fail "only $h reloads during the scan"
    [ "$({ grep -o '"rules_version":"[^"]*"' "$dir/out" || true; } | sort -u | wc -l)" -ge 2 ] || fail "one rules version in the verdicts"
    row "d2. scan: SIGHUP every 0.2 s ($h reloads)" "$N" "$V" "$E" "$lost" - - - - -
    ok "$N lines in order through $h reloads"
}

# --- e. a broken rule pack pushed to a running server -------------------------------------------------

scenario_e() {
    case_ "e.broken-pack"
    local dir="$T/e" v0 f code in=0 out=0 errs=0 n kind where
    mkdir -p "$dir"
    cp -r "$SRC/rules" "$dir/rules"
    serve_with "$dir" --rules "$dir/rules" --no-warn || return
    v0=$(curl -s "$URL/readyz" | jq -r .rules_version)
    n=$(lines "$T/base.jsonl")
    f="$dir/rules/zh/impersonate_authority.yaml"
    cp "$f" "$dir/orig.yaml"
    for kind in yaml regex dupid toolarge bigregex; do
        case "$kind" in
        yaml) echo "this is: [not yaml" >>"$f" ;;
        regex) printf '  - id: zh.zz.broken\n    pattern: "(unclosed"\n    score: 1\n' >>"$f" ;;
        dupid) printf '  - id: zh.authority.safe_account\n    literal: x\n    score: 1\n' >>"$f" ;;
        toolarge) head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' '#' >>"$f" ;;
        bigregex) printf "  - id: zh.zz.big\n    pattern: '(a|b){1,5000}c'\n    score: 1\n" >>"$f" ;;
        esac
        code=$(curl -s -o "$dir/reload.$kind" -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" "$URL/v1/rules/reload" || true)
        [ "$code" = 422 ] && [ "$(jq -r .reloaded "$dir/reload.$kind")" = false ] || fail "$kind: reload $code $(head -c 300 "$dir/reload.$kind")"
        # file:line:col (a file too large has no line: the file's name then).
        where='impersonate_authority.yaml:[0-9]*:[0-9]*: '
        [ "$kind" != toolarge ] || where='impersonate_authority.yaml: file is [0-9]* bytes'
        jq -r .error "$dir/reload.$kind" | grep -q "$where" ||
            fail "$kind: no file:line:col: $(jq -r .error "$dir/reload.$kind" | head -c 300)"
        [ "$(jq -r .running.rules_version "$dir/reload.$kind")" = "$v0" ] || fail "$kind: the running version is not named"
        kill -HUP "$SV_PID" 2>/dev/null || fail "$kind: SIGHUP: the server is gone"
        # Scoring goes on with the running pack.
        code=$(post "$CLIENT" /v1/check/batch "$T/base.jsonl" "$dir/batch.$kind")
        in=$((in + n))
        out=$((out + $(grep -c '"action":' "$dir/batch.$kind" || true)))
        errs=$((errs + $(grep -c '^{"line":' "$dir/batch.$kind" || true)))
        [ "$code" = 200 ] && [ "$(lines "$dir/batch.$kind")" = "$n" ] || fail "$kind: batch $code, $(lines "$dir/batch.$kind") of $n"
        [ "$({ grep -o '"rules_version":"[^"]*"' "$dir/batch.$kind" || true; } | sort -u)" = "\"rules_version\":\"$v0\"" ] ||
            fail "$kind: verdicts not from the running pack"
        check_one || fail "$kind: the scam is not blocked any more"
        cp "$dir/orig.yaml" "$f"
    done
    code=$(curl -s -o "$dir/reload.fixed" -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" "$URL/v1/rules/reload" || true)
    [ "$code" = 200 ] && [ "$(jq -r .reloaded "$dir/reload.fixed")" = true ] || fail "fixed pack: reload $code $(cat "$dir/reload.fixed")"
    [ "$(grep -c 'reload refused' "$dir/serve.log")" -ge 10 ] || fail "refusals not logged: $(grep -c 'reload refused' "$dir/serve.log")"
    kill -0 "$SV_PID" 2>/dev/null || fail "the server died"
    row "e. serve: 5 broken packs (POST + SIGHUP), then fixed" "$in" "$out" "$errs" $((in - out - errs)) - - - - -
    ok "yaml, regex, duplicate id, 5 MiB file, regex too large: 422 with file:line:col, old pack scores; fixed: 200"
    cat "$dir/serve.log" "$dir"/reload.* >>"$T/public.log"
}

# --- f. hostile input ------------------------------------------------------------------------------------

# make_hostile JSONL CSV DIR: the hostile inputs; each JSON line also alone in DIR/one.K.
make_hostile() {
    python3 - "$1" "$2" "$3" <<'EOF'
import os, sys
mb = 1024 * 1024
L = [
    b'{"id":"h-utf8","text":"\xff\xfe\xc3\x28 invalid \xe4\xb8 utf8 \xf0\x9f\x98 \xe4\xb8\xad\xe5\xa5\x96"}',
    b'{"id":"h-10mb","text":"' + b'\xe4\xb8\xad' * (10 * mb // 3) + b'"}',
    b'[' * 100000,
    b'{"id":"h-nest","text":"x","meta":' + b'{"a":' * 100000 + b'1' + b'}' * 100000 + b'}',
    b'{"id":"h-arr","text":"x","a":' + b'[' * 100000 + b']' * 100000 + b'}',
    b'{"id":"h-nul","text":"a\x00b\\u0000c \xe4\xb8\xad\xe5\xa5\x96"}',
    b'{"id":"h-ctl","text":"\x01\x02\x07\x1b[31m\\u0007\\u001b \x7f\xc2\x85 \xe2\x80\xae\xe2\x80\x8b"}',
    b'{"id":"h-empty","text":""}',
    b'{"id":"h-notext"}',
    b'{"id":"h-numtext","text":12345}',
    b'{"id":"h-surrogate","text":"\\ud800 x \\udfff"}',
    b'{"id":"h-badesc","text":"95588\\uZZZZ123"}',
    b'\x00\x00\x00',
    b'{"id":"h-900k","text":"' + b'a' * 900000 + b'"}',
    b'\xef\xbb\xbf{"id":"h-bom","text":"hi"}',
    b'{"id":"h-crlf","text":"hi"}\r',
    b'"just a string"',
    b'{"id":"h-manykeys",' + b','.join(b'"k%d":%d' % (i, i) for i in range(50000)) + b',"text":"x"}',
    b'{"id":"h-numbers","text":"' + b'1' * 100000 + b'"}',
    b'{"id":"h-links","text":"' + b' http://a.cn/x' * 20000 + b'"}',
    b'{"id":"h-last-no-newline","text":"\xe4\xb8\xad\xe5\xa5\x96"}',
]
open(sys.argv[1], 'wb').write(b'\n'.join(L))       # no newline after the last line
for k, line in enumerate(L, 1):
    open(os.path.join(sys.argv[3], 'one.%d' % k), 'wb').write(line)
C = [
    b'id,from,to,text',
    b'1,a,b,"unbalanced quote',
    b'2,a,b,ok text',
    b'3,a,b,"quoted ""inner"" text",extra',
    b'4,a',
    b'5,a,b,\xff\xfe bad utf8',
    b'6,a,b,nul\x00byte',
    b'7,a,b,' + b'x' * (2 * mb),
    b'"8,a,b,hello',
    b'9,a,b,"multi',
    b'line"',
    b',,,',
    b'10,a,b,last',
]
open(sys.argv[2], 'wb').write(b'\n'.join(C) + b'\n')
EOF
}

# raw_http REQUEST-FILE: send raw bytes to the server, print the status line's code (or "closed").
raw_http() {
    python3 - "$1" "${URL#http://}" <<'EOF'
import socket, sys
host, port = sys.argv[2].split(':')
data = open(sys.argv[1], 'rb').read()
s = socket.create_connection((host, int(port)), timeout=10)
try:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    r = s.recv(4096)
    print(r.split(b' ')[1].decode() if r.startswith(b'HTTP/') else 'closed')
except OSError:
    print('closed')
EOF
}

scenario_f() {
    case_ "f.hostile"
    local dir="$T/f" R V E n code c bad=0 i in=0 out=0 errs=0 req
    mkdir -p "$dir"
    make_hostile "$dir/hostile.jsonl" "$dir/hostile.csv" "$dir"
    n=$(($(wc -l <"$dir/hostile.jsonl") + 1))
    # scan, JSON Lines and CSV.
    for fmt in jsonl csv; do
        RC=0
        "$FANZHA" scan --state none -o "$dir/scan.$fmt.out" --errors "$dir/scan.$fmt.err" "$dir/hostile.$fmt" 2>"$dir/scan.$fmt.log" || RC=$?
        [ "$RC" -eq 0 ] || fail "scan $fmt: exit $RC: $(tail -3 "$dir/scan.$fmt.log")"
        R=$(summary "$dir/scan.$fmt.log" read)
        V=$(summary "$dir/scan.$fmt.log" verdicts)
        E=$(summary "$dir/scan.$fmt.log" errors)
        [ -n "$R" ] && [ "$R" -eq $((V + E)) ] && [ "$(lines "$dir/scan.$fmt.out")" = "$V" ] &&
            [ "$(lines "$dir/scan.$fmt.err")" = "$E" ] || fail "scan $fmt: $(tail -1 "$dir/scan.$fmt.log")"
        jq -e . "$dir/scan.$fmt.out" "$dir/scan.$fmt.err" >/dev/null 2>&1 || fail "scan $fmt: output is not JSON"
        if [ "$fmt" = jsonl ]; then
            [ "$R" = "$n" ] || fail "jsonl: read $R of $n lines"
            grep -q '^{"line":2,"error":"record too long' "$dir/scan.jsonl.err" || fail "the 10 MB line is not an error record"
            grep -q '"id":"h-last-no-newline"' "$dir/scan.jsonl.out" || fail "the last line (no newline) has no verdict"
            grep -q '"id":"h-utf8"' "$dir/scan.jsonl.out" || fail "invalid UTF-8 is not repaired"
            row "f. scan: hostile JSON Lines" "$R" "$V" "$E" $((n - V - E)) - - - - -
        else
            [ "$R" -ge 8 ] || fail "csv: read $R records"
            row "f. scan: hostile CSV" "$R" "$V" "$E" 0 - - - - -
        fi
    done
    # serve: each hostile line alone to /v1/check, all as one batch.
    serve_with "$dir" --no-warn || return
    for i in $(seq 1 "$n"); do
        code=$(post "$CLIENT" /v1/check "$dir/one.$i" "$dir/one.out")
        case "$code" in
        200) out=$((out + 1)) ;;
        400 | 413) errs=$((errs + 1)); jq -e .error "$dir/one.out" >/dev/null 2>&1 || fail "line $i: $code without a JSON error" ;;
        *) bad=$((bad + 1)); fail "line $i: /v1/check answered $code" ;;
        esac
        in=$((in + 1))
    done
    [ "$bad" = 0 ] || fail "$bad hostile requests not answered 200/400/413"
    curl -sf "$URL/healthz" >/dev/null || fail "healthz after the hostile checks"
    row "f. serve: hostile /v1/check (one request each)" "$in" "$out" "$errs" $((in - out - errs)) - - - - -
    code=$(post "$CLIENT" /v1/check/batch "$dir/hostile.jsonl" "$dir/batch.out")
    V=$(grep -c '"action":' "$dir/batch.out" || true)
    E=$(grep -c '^{"line":' "$dir/batch.out" || true)
    [ "$code" = 200 ] && [ "$(lines "$dir/batch.out")" = "$n" ] && [ $((V + E)) = "$n" ] ||
        fail "batch: $code, $(lines "$dir/batch.out") lines ($V verdicts, $E errors) for $n"
    grep -q '^{"line":2,"error":"record too long' "$dir/batch.out" || fail "batch: the 10 MB line is not an error record"
    row "f. serve: hostile /v1/check/batch" "$n" "$V" "$E" $((n - V - E)) - - - - -
    # Bodies over the limits, and raw HTTP garbage.
    head -c $((40 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$dir/40mb"
    code=$(post "$CLIENT" /v1/check/batch "$dir/40mb" "$dir/40mb.out")
    [ "$code" = 413 ] || fail "a 40 MB batch: $code"
    rm -f "$dir/40mb"
    printf 'GARBAGE\r\n\r\n' >"$dir/req.1"
    printf 'POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: -1\r\n\r\n' "$CLIENT" >"$dir/req.2"
    printf 'POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n' "$CLIENT" >"$dir/req.3"
    { printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: '; head -c 200000 /dev/zero | tr '\0' 'b'; printf '\r\n\r\n'; } >"$dir/req.4"
    printf 'POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{"text":' "$CLIENT" >"$dir/req.5"
    printf 'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' "$(head -c 100000 /dev/zero | tr '\0' 'p')" >"$dir/req.6"
    for req in 1 2 3 4 5 6; do
        c=$(raw_http "$dir/req.$req")
        case "$c" in 4[0-9][0-9] | closed) ;; *) fail "raw request $req: answered $c" ;; esac
        echo "raw $req: $c" >>"$dir/raw.log"
    done
    kill -0 "$SV_PID" 2>/dev/null || fail "the server died"
    check_one || fail "no verdict after the hostile input"
    ok "scan jsonl/csv and serve check/batch: read = verdicts + errors; 413 for 40 MB; raw garbage: $(tr '\n' ' ' <"$dir/raw.log")"
    cat "$dir"/scan.*.err "$dir/serve.log" >>"$T/public.log"
}

# --- run --------------------------------------------------------------------------------------------------

START=$(date +%s)
: >"$T/fails"
for s in a a2 b b2 c d d2 e f; do
    if want "$s"; then
        t0=$(date +%s)
        RC=0
        (
            # shellcheck disable=SC2064  # the counts now: what the row starts later is stopped
            trap "stop_started ${#BG_PIDS[@]} ${#SERVER_PIDS[@]}" EXIT
            "scenario_$s"
        ) || RC=$?
        if [ "$RC" -ne 0 ]; then
            echo "$s: the row ended early (exit $RC)" >>"$T/fails"
            printf '%s|-|-|-|-|-|-|-|-|-|ABORTED (exit %s)\n' "$s" "$RC" >>"$ROWS"
            echo "FAIL [$s]: the row ended early (exit $RC)" >&2
        fi
        echo "     ($s: $(($(date +%s) - t0)) s)"
    fi
done
FAILS=$(lines "$T/fails")

# No phone number of the residents or of the messages in what fanzha printed.
case_ "privacy"
if [ -s "$T/public.log" ]; then
    leaked=$(numbers_in "$T/public.log" 13602000001 13902000001 17012345678 13812345678)
    [ -z "$leaked" ] || fail "numbers in clear in fanzha's logs and error records: $leaked"
    ok "no number in clear in logs or error records"
fi

echo
echo "fault table ($([ "$BOUNDED" = 1 ] && echo bounded || echo full) run, $(($(date +%s) - START)) s, $FANZHA):"
print_table
echo
if [ "$FAILS" -ne 0 ]; then
    echo "run.sh: $FAILS check(s) failed" >&2
    exit 1
fi
echo "run.sh: nothing lost"
