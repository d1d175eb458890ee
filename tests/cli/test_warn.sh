#!/bin/bash
# test_warn.sh — warning residents end to end, as an operator does it, with
# the real rule pack ($SRC/rules, with rules/warnings.yaml) and real servers
# on loopback ports that this test starts and stops:
#
#   1. the registry: `fanzha resident` add / show / list / import / remove,
#      masked numbers, mistakes, records kept across processes (sealed);
#   2. `fanzha scan --warn`: who is warned (resident, guardians for a
#      critical scam), duplicates, daily limits, quiet hours, English
#      residents; the verdicts' "warning", the summary, `fanzha outbox`;
#   3. delivery to Debian's `webhook` (a recording gateway): a config file
#      with a body template and a token header from the environment; every
#      warning once, Idempotency-Key = warning id; a second deliver sends
#      nothing;
#   4. a gateway outage (tests/gateway/receiver.py answering 503 with
#      Retry-After) under `outbox deliver --follow`, then recovery; SIGTERM
#      stops the deliverer cleanly; nothing lost, nothing doubled;
#   5. dead letters (400): list, replay, deliver, purge;
#   6. configuration mistakes: file:line:col, no gateway, plain http:// to a
#      remote host, a token variable not set.
#
# Needs: FANZHA (the binary), SRC (the source tree), jq, curl, python3 and
# webhook (Debian package "webhook"). FANZHA_CACHE is used when set.
#
set -euo pipefail

: "${FANZHA:?set FANZHA to the fanzha binary}"
: "${SRC:?set SRC to the source tree}"
export FANZHA_CACHE="${FANZHA_CACHE:-}"
export FANZHA_HASH_KEY="test_warn.sh sealing key"
unset FANZHA_REDIS FANZHA_CONFIG FANZHA_RULES
RULES="$SRC/rules"
T=$(mktemp -d "${TMPDIR:-/tmp}/fanzha-warn-test.XXXXXX")
export FANZHA_STATE_DIR="$T/state"       # the embedded store: residents and the outbox
export GW_TOKEN="tok-$$-$RANDOM-secret"  # the gateway token: only ever in the environment
# shellcheck source=tests/cli/lib.sh
. "$SRC/tests/cli/lib.sh"                # SERVER_PIDS: webhook, receiver.py; BG_PIDS: deliverers

trap lib_cleanup EXIT

for tool in jq curl python3 webhook; do
    command -v "$tool" >/dev/null 2>&1 || { echo "test_warn.sh needs $tool" >&2; exit 1; }
done


# --- helpers ------------------------------------------------------------------------------------------


# runclear NAME CMD...: as run, for output that may show numbers in clear.
runclear() {
    local name="$1"
    shift
    RC=0
    "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
}
fz() { "$FANZHA" "$@"; }

# The number after WORD in the last "fanzha scan: warnings queued ..." line of FILE.
warn_count() {
    grep '^fanzha scan: warnings queued ' "$1" | tail -1 | sed -n "s/.*$2 \([0-9][0-9]*\).*/\1/p"
}
# status FIELD [STATE_DIR]: a count of `fanzha outbox` (status).
status() {
    FANZHA_STATE_DIR="${2:-$FANZHA_STATE_DIR}" "$FANZHA" outbox 2>/dev/null | jq -r ".$1"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}



# webhook_start: Debian's webhook with the "record" hook (tests/gateway), on
# a free port; sets WH_URL, WH_RECORDS.
webhook_start() {
    local pid port
    WH_RECORDS="$T/webhook.records"
    sed -e "s|@RECORD_SH@|$SRC/tests/gateway/record.sh|" -e "s|@RECORD_FILE@|$WH_RECORDS|" \
        "$SRC/tests/gateway/webhook-hooks.json.in" >"$T/hooks.json"
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        webhook -hooks "$T/hooks.json" -ip 127.0.0.1 -port "$port" -http-methods POST,PUT \
            </dev/null >>"$T/webhook.log" 2>&1 &
        pid=$!
        SERVER_PIDS+=("$pid")
        for _ in $(seq 1 250); do
            kill -0 "$pid" 2>/dev/null || break                 # exited: a port clash, most likely
            if can_connect "$port"; then
                WH_URL="http://127.0.0.1:$port/hooks/record"
                return 0
            fi
            sleep 0.02
        done
        kill "$pid" 2>/dev/null || true
    done
    echo "webhook did not start: $(tail -5 "$T/webhook.log")" >&2
    return 1
}



# Local time of the policy (utc_offset +08:00): the hour now, for quiet hours.
HOUR=$((($(date +%s) + 8 * 3600) / 3600 % 24))
hh() { printf '%02d:00' $((($1 + 24) % 24)); }
QUIET_LATER="$(hh $((HOUR + 3)))-$(hh $((HOUR + 4)))"     # does not hold now
QUIET_NOW="$(hh $((HOUR - 1)))-$(hh $((HOUR + 2)))"       # holds now (for an hour at least)
QUIET_END=$(((HOUR + 2) % 24))

# Residents (A: zh, two guardians; B: en, one guardian; L: daily limit 1;
# Q: quiet hours now), imported ones, and the rest.
A=13812345678 A_MASK='+86138****5678'
G1=13900001111 G2=13700002222
B=13600003333 GB=13900003333
L=13600004444 Q=13600005555
I1=13512340001 I2=13512340002 I2G=13512349999 I3=13512340004
UNREG=13700009999
NUMBERS="$A $G1 $G2 $B $GB $L $Q $I1 $I2 $I2G $I3 $UNREG"

# --- 1. the registry ------------------------------------------------------------------------------------

case_ "resident"
run add-a fz resident add 138-1234-5678 --name 王阿姨 --guardian "$G1" --guardian "+86 137 0000 2222" \
    --quiet "$QUIET_LATER" --daily-limit 5
[ "$RC" -eq 0 ] || fail "add A: exit $RC: $(cat "$T/add-a.err")"
grep -qF "fanzha resident: registered $A_MASK (2 guardians) in embedded ($FANZHA_STATE_DIR/state.db)" "$T/add-a.err" ||
    fail "add A: $(cat "$T/add-a.err")"
run add-b fz resident add "+86 136 0000 3333" --language en --name Mary --guardian "$GB"
[ "$RC" -eq 0 ] || fail "add B: exit $RC: $(cat "$T/add-b.err")"
# show, in a later process: masked by default.
run show-a fz resident show "$A"
[ "$RC" -eq 0 ] || fail "show A: exit $RC: $(cat "$T/show-a.err")"
jq -e --arg q "$QUIET_LATER" '.number == "+86138****5678" and .name == "王阿姨" and .language == "zh" and
        .guardians == ["+86139****1111", "+86137****2222"] and .daily_limit == 5 and .quiet == $q and .channel == "sms"' \
    "$T/show-a.out" >/dev/null || fail "show A: $(cat "$T/show-a.out")"
# ... in clear with --show-numbers, whichever way the number is written.
runclear show-a-clear fz resident show "+86 (138) 1234-5678" --show-numbers
[ "$RC" -eq 0 ] && jq -e '.number == "+8613812345678" and .guardians == ["+8613900001111", "+8613700002222"]' \
    "$T/show-a-clear.out" >/dev/null || fail "show --show-numbers: exit $RC: $(cat "$T/show-a-clear.out" "$T/show-a-clear.err")"
run show-b fz resident show "$B"
jq -e '.number == "+86136****3333" and .language == "en" and .name == "Mary" and (.guardians | length) == 1' \
    "$T/show-b.out" >/dev/null || fail "show B: $(cat "$T/show-b.out")"
run list1 fz resident list
[ "$RC" -eq 0 ] && [ "$(lines "$T/list1.out")" -eq 2 ] && grep -q '^fanzha resident: 2 residents$' "$T/list1.err" ||
    fail "list: exit $RC: $(cat "$T/list1.out" "$T/list1.err")"
jq -e -s '[.[].number] | sort == ["+86136****3333", "+86138****5678"]' "$T/list1.out" >/dev/null || fail "list: $(cat "$T/list1.out")"
# import: good lines, unreadable ones (2, 4, 6), a blank line (not a record).
{
    printf '{"number":"%s","name":"李大爷"}\n' "$I1"
    printf 'not json\n'
    printf '\n'
    printf '{"number":"hello"}\n'
    printf '{"number":"%s","guardians":["%s"],"quiet":"22:00-07:00","channel":"voice"}\n' "$I2" "$I2G"
    printf '{"number":"%s","language":"fr"}\n' "$I3"
    printf '{"number":"%s","daily_limit":2}\n' "$I3"
} >"$T/import.jsonl"
run import fz resident import "$T/import.jsonl"
[ "$RC" -eq 1 ] || fail "import with bad lines: exit $RC, expected 1"
[ "$(grep -c ': line [0-9]*: ' "$T/import.err")" -eq 3 ] && grep -q ': line 2: ' "$T/import.err" &&
    grep -q ": line 4: 'number' is not a phone number" "$T/import.err" && grep -q ': line 6: .*language' "$T/import.err" ||
    fail "import errors: $(cat "$T/import.err")"
grep -qF "fanzha resident: 3 registered, 3 unreadable (embedded ($FANZHA_STATE_DIR/state.db))" "$T/import.err" ||
    fail "import summary: $(tail -1 "$T/import.err")"
runclear show-i2 fz resident show "$I2" --show-numbers
jq -e --arg g "+86$I2G" '.guardians == [$g] and .quiet == "22:00-07:00" and .channel == "voice"' "$T/show-i2.out" >/dev/null ||
    fail "imported resident: $(cat "$T/show-i2.out" "$T/show-i2.err")"
# import from stdin, all good: exit 0.
printf '{"number":"%s","daily_limit":2}\n' "$I3" | fz resident import - 2>"$T/import2.err" || fail "import - : $(cat "$T/import2.err")"
grep -q 'fanzha resident: 1 registered, 0 unreadable' "$T/import2.err" || fail "import -: $(cat "$T/import2.err")"
run list2 fz resident list
[ "$(lines "$T/list2.out")" -eq 5 ] || fail "after import: $(lines "$T/list2.out") residents, expected 5"
# remove: then show says it is not there (exit 1); removing again, too.
run rm-i1 fz resident remove "$I1"
[ "$RC" -eq 0 ] && grep -q '^fanzha resident: removed$' "$T/rm-i1.err" || fail "remove: exit $RC: $(cat "$T/rm-i1.err")"
run show-i1 fz resident show "$I1"
[ "$RC" -eq 1 ] && grep -q 'not registered' "$T/show-i1.err" && [ ! -s "$T/show-i1.out" ] ||
    fail "show after remove: exit $RC: $(cat "$T/show-i1.out" "$T/show-i1.err")"
run rm-i1b fz resident remove "$I1"
[ "$RC" -eq 1 ] || fail "remove twice: exit $RC"
run list3 fz resident list
[ "$(lines "$T/list3.out")" -eq 4 ] || fail "after remove: $(lines "$T/list3.out") residents, expected 4"
# add replaces: B's name changes, nothing else is added.
run add-b2 fz resident add "$B" --language en --name "Mary Smith" --guardian "$GB"
[ "$(fz resident show "$B" 2>/dev/null | jq -r .name)" = "Mary Smith" ] || fail "add did not replace B"
[ "$(fz resident list 2>/dev/null | wc -l)" -eq 4 ] || fail "replacing added a resident"
# Mistakes: exit 2 and why; nothing registered.
run bad-num fz resident add hello
[ "$RC" -eq 2 ] && grep -q "not a phone number" "$T/bad-num.err" || fail "bad number: exit $RC: $(cat "$T/bad-num.err")"
run bad-guard fz resident add 13812340000 --guardian "call me"
[ "$RC" -eq 2 ] || fail "bad guardian: exit $RC: $(cat "$T/bad-guard.err")"
run bad-quiet fz resident add 13812340000 --quiet 25:00-07:00
[ "$RC" -eq 2 ] || fail "bad quiet hours: exit $RC: $(cat "$T/bad-quiet.err")"
run bad-lang fz resident add 13812340000 --language fr
[ "$RC" -eq 2 ] || fail "bad language: exit $RC: $(cat "$T/bad-lang.err")"
run bad-limit fz resident add 13812340000 --daily-limit -1
[ "$RC" -eq 2 ] || fail "bad daily limit: exit $RC: $(cat "$T/bad-limit.err")"
run five fz resident add 13812340000 --guardian 13900000001 --guardian 13900000002 --guardian 13900000003 \
    --guardian 13900000004 --guardian 13900000005
[ "$RC" -eq 2 ] || fail "five guardians: exit $RC: $(cat "$T/five.err")"
fz resident show 13812340000 >/dev/null 2>&1 && fail "a rejected add registered the resident"
run verb fz resident frobnicate
[ "$RC" -eq 2 ] && grep -q "unknown action 'frobnicate'" "$T/verb.err" || fail "unknown verb: exit $RC: $(cat "$T/verb.err")"
run nonum fz resident show
[ "$RC" -eq 2 ] || fail "show without a number: exit $RC"
run badopt fz resident list --name X
[ "$RC" -eq 2 ] || fail "list --name: exit $RC"
# The registry is sealed: neither numbers nor names in the state file.
[ -s "$FANZHA_STATE_DIR/state.db" ] || fail "no state.db in $FANZHA_STATE_DIR"
cat "$FANZHA_STATE_DIR"/* >"$T/state.bytes"
found=$(numbers_in "$T/state.bytes" $A $G1 $G2 $B $GB $I2 $I2G $I3)
[ -z "$found" ] || fail "in clear in the state directory: $found"
grep -q -a -e '王阿姨' -e 'Mary' -e '李大爷' "$T/state.bytes" && fail "a name in clear in the state directory"
# Another state directory is another registry; another key cannot read this one.
[ "$(FANZHA_STATE_DIR="$T/other" "$FANZHA" resident list 2>/dev/null | wc -l)" -eq 0 ] || fail "another state dir sees residents"
RC=0
FANZHA_HASH_KEY="another key" "$FANZHA" resident show "$A" >/dev/null 2>&1 || RC=$?
[ "$RC" -ne 0 ] || fail "another FANZHA_HASH_KEY reads the registry"
ok "add, show (masked / --show-numbers), list, import (3 good, 3 bad lines), remove, mistakes; sealed, persistent"

# --- 2. scan --warn ------------------------------------------------------------------------------------

case_ "scan-warn"
run add-l fz resident add "$L" --daily-limit 1
run add-q fz resident add "$Q" --name 张大爷 --quiet "$QUIET_NOW"
POLICE1='【公安局】您涉嫌一起洗钱案件，案件编号3381，请立即将资金转入安全账户配合调查，切勿告知他人。'
POLICE2='【公安局】您涉嫌一起洗钱案件，案件编号7702，请立即将资金转入安全账户配合调查，切勿告知他人。'
POLICE3='【公安局】您涉嫌一起洗钱案件，案件编号5150，请立即将资金转入安全账户配合调查，切勿告知他人。'
TASK='【优选兼职】刷单返利，按导师指引下单→截图→提交，佣金比例8%-15%，本金加佣金当场返还，日结无押金，加微信 yxjz_teacher06 领任务。'
ETC='【ETC】您的ETC卡绑定的银行卡已失效，请立即重新绑定，链接：etc-yhk.cc'
HAM='妈，我今晚回家吃饭，不用等我。'
{
    printf '{"id":"police","from":"17012345678","to":"%s","text":"%s"}\n' "$A" "$POLICE1"
    printf '{"id":"task","from":"15685745577","to":"+86 138-1234-5678","text":"%s"}\n' "$TASK"
    printf '{"id":"variant","from":"17012345678","to":"%s","text":"%s"}\n' "$A" "$POLICE2"
    printf '{"id":"ham","from":"%s","to":"%s","text":"%s"}\n' "$G1" "$A" "$HAM"
    printf '{"id":"unregistered","from":"17012345678","to":"%s","text":"%s"}\n' "$UNREG" "$POLICE1"
    printf '{"id":"english","from":"17012345678","to":"%s","text":"%s"}\n' "$B" "$POLICE1"
    printf '{"id":"limit1","from":"17012345678","to":"%s","text":"%s"}\n' "$L" "$POLICE3"
    printf '{"id":"limit2","from":"15685745577","to":"%s","text":"%s"}\n' "$L" "$TASK"
    printf '{"id":"quiet","from":"17012345678","to":"%s","text":"%s"}\n' "$Q" "$ETC"
    printf '{"id":"nobody","from":"17012345678","text":"%s"}\n' "$POLICE1"
} >"$T/messages.jsonl"
BEFORE=$(date +%s)
run scan fz scan --rules "$RULES" --warn "$T/messages.jsonl"
AFTER=$(date +%s)
[ "$RC" -eq 0 ] || fail "scan: exit $RC: $(cat "$T/scan.err")"
[ "$(lines "$T/scan.out")" -eq 10 ] && jq -e . "$T/scan.out" >/dev/null 2>&1 || fail "not 10 JSON verdicts: $(head -c 300 "$T/scan.out")"
v() { jq -c "select(.id == \"$1\")" "$T/scan.out"; }
# The scams score block with the real pack (else nothing below means anything).
for id in police task variant unregistered english limit1 limit2 quiet nobody; do
    [ "$(v "$id" | jq -r .action)" = block ] || fail "$id: not block: $(v "$id" | jq -c '[.action, .score, .category]')"
done
[ "$(v police | jq -r .category)" = impersonate_authority ] && [ "$(v task | jq -r .category)" = task_rebate ] ||
    fail "categories: $(v police | jq -r .category), $(v task | jq -r .category)"
# The critical scam warns A and both guardians; the task scam only A.
v police | jq -e --argjson b "$BEFORE" --argjson a "$AFTER" '.warning.status == "queued" and .warning.guardians == 2 and
    (.warning.id | test("^[0-9a-f]{32}$")) and .warning.due >= $b and .warning.due <= $a' >/dev/null ||
    fail "police: $(v police | jq -c .warning)"
v task | jq -e '.warning.status == "queued" and .warning.guardians == 0' >/dev/null || fail "task: $(v task | jq -c .warning)"
[ "$(v task | jq -r .warning.id)" != "$(v police | jq -r .warning.id)" ] || fail "two scams, one warning id"
# The variant (other digits, same template) is a duplicate of the same warning.
v variant | jq -e --arg id "$(v police | jq -r .warning.id)" '.warning.status == "duplicate" and .warning.id == $id and
    .warning.guardians == 0' >/dev/null || fail "variant: $(v variant | jq -c .warning)"
# No warning for ham, for a number nobody registered, for a message without a recipient.
for id in ham unregistered nobody; do
    v "$id" | jq -e 'has("warning") | not' >/dev/null || fail "$id: $(v "$id" | jq -c .warning)"
done
[ "$(v ham | jq -r .action)" = allow ] || fail "ham: $(v ham | jq -c '[.action, .score]')"
v english | jq -e '.warning.status == "queued" and .warning.guardians == 1' >/dev/null || fail "english: $(v english | jq -c .warning)"
# Daily limit 1: the second scam of the day is held back.
v limit1 | jq -e '.warning.status == "queued"' >/dev/null && v limit2 | jq -e '.warning.status == "limited"' >/dev/null ||
    fail "daily limit: $(v limit1 | jq -c .warning) $(v limit2 | jq -c .warning)"
# Quiet hours now: queued, due when they end (a local hour boundary, within 2 h).
QDUE=$(v quiet | jq -r .warning.due)
v quiet | jq -e '.warning.status == "queued" and .warning.guardians == 0' >/dev/null &&
    [ "$QDUE" -gt $((AFTER + 60)) ] && [ "$QDUE" -le $((BEFORE + 2 * 3600)) ] && [ $(((QDUE + 8 * 3600) % 3600)) -eq 0 ] &&
    [ $(((QDUE + 8 * 3600) / 3600 % 24)) -eq "$QUIET_END" ] || fail "quiet ($QUIET_NOW): $(v quiet | jq -c .warning), now $BEFORE"
# The summary: queued 3 (police) + 1 (task) + 2 (english) + 1 (limit1) + 1 (quiet);
# duplicates 3 (the variant: A and two guardians); limited 1.
grep -q '^fanzha scan: read 10, verdicts 10, errors 0 (allow 1, suspect 0, block 9)' "$T/scan.err" || fail "summary: $(cat "$T/scan.err")"
[ "$(warn_count "$T/scan.err" queued)" = 8 ] && [ "$(warn_count "$T/scan.err" spooled)" = 0 ] &&
    [ "$(warn_count "$T/scan.err" duplicate)" = 3 ] && [ "$(warn_count "$T/scan.err" limit)" = 1 ] &&
    [ "$(warn_count "$T/scan.err" failed)" = 0 ] || fail "warnings summary: $(grep 'warnings queued' "$T/scan.err")"
# The outbox: 7 ready, the quiet one scheduled.
run status1 fz outbox
[ "$RC" -eq 0 ] && jq -e --arg s "embedded ($FANZHA_STATE_DIR/state.db)" \
    '.ready == 7 and .scheduled == 1 and .dead == 0 and .spooled == 0 and .store == $s' "$T/status1.out" >/dev/null ||
    fail "status: exit $RC: $(cat "$T/status1.out" "$T/status1.err")"
run list-ready fz outbox list
[ "$RC" -eq 0 ] && [ "$(lines "$T/list-ready.out")" -eq 7 ] && grep -q '^fanzha outbox: 7 warnings$' "$T/list-ready.err" ||
    fail "list: exit $RC: $(cat "$T/list-ready.err")"
jq -e . "$T/list-ready.out" >/dev/null 2>&1 || fail "list is not JSON"
# Masked, with the resident's words in the resident's language.
jq -e -s --arg a "$A_MASK" --arg id "$(v police | jq -r .warning.id)" '
    ([.[] | select(.to == $a)] | length) == 2 and
    ([.[] | select(.role == "guardian")] | length) == 3 and
    ([.[] | .to | test("^\\+86[0-9]{3}\\*{4}[0-9]{4}$")] | all) and
    ([.[] | select(.id == $id)] | length) == 1 and
    ([.[] | select(.id == $id)][0] | .role == "resident" and .category == "impersonate_authority" and .language == "zh" and
        (.text | startswith("王阿姨，")) and (.text | contains("96110")) and .attempts == 0 and .last_error == "") and
    ([.[] | select(.role == "guardian" and .language == "zh")] | length == 2 and all(.text | contains("王阿姨")))' \
    "$T/list-ready.out" >/dev/null || fail "list contents: $(cat "$T/list-ready.out")"
jq -e -s '[.[] | select(.language == "en")] | length == 2 and
    (map(select(.role == "resident"))[0].text | startswith("Mary Smith, ")) and
    (map(select(.role == "guardian"))[0].text | contains("Mary Smith")) and all(.text | test("^[ -~]+$"))' \
    "$T/list-ready.out" >/dev/null || fail "English warnings: $(jq -c 'select(.language == "en")' "$T/list-ready.out")"
run list-sched fz outbox list --box scheduled
jq -e --argjson d "$QDUE" '.due == $d and .to == "+86136****5555" and .category == "etc_toll" and (.text | startswith("张大爷"))' \
    "$T/list-sched.out" >/dev/null || fail "scheduled: $(cat "$T/list-sched.out")"
# The resident's verdict id is the listed id; the texts never carry a link or another number.
jq -r '.text' "$T/list-ready.out" "$T/list-sched.out" | sed -e 's/96110//g' -e 's/110//g' | grep -E '[0-9]{3,}|https?:|www\.|\.(cn|com)' &&
    fail "a warning text with a link or a number"
# With --show-numbers, in clear.
runclear list-clear fz outbox list --show-numbers
[ "$(jq -r .to "$T/list-clear.out" | sort | tr '\n' ' ')" = "+8613600003333 +8613600004444 +8613700002222 +8613812345678 +8613812345678 +8613900001111 +8613900003333 " ] ||
    fail "list --show-numbers: $(jq -r .to "$T/list-clear.out" | sort | tr '\n' ' ')"
ok "critical scam: resident + 2 guardians; other: resident only; variant duplicate; ham, unregistered: none; en; limit; quiet"

# --- 3. delivery to a recording gateway (webhook) --------------------------------------------------------

case_ "deliver-webhook"
webhook_start || exit 1
cat >"$T/gw-webhook.yaml" <<EOF
# the recording gateway
gateway:
  url: $WH_URL
  method: POST
  headers:
    - "Authorization: Bearer \${GW_TOKEN}"
    - "X-Sender: fanzha-test"
  body: |
    {"mobile": "{{to}}", "content": "{{text}}", "biz_id": "{{id}}", "tags": ["{{category}}", "{{role}}"],
     "lang": "{{language}}", "channel": "{{channel}}", "created": "{{created}}", "attempt": {{attempt}}}
  timeout_ms: 5000
  concurrency: 4
EOF
grep -q "$GW_TOKEN" "$T/gw-webhook.yaml" && fail "the token is in the config file"
runclear ready-clear fz outbox list --show-numbers --body --config "$T/gw-webhook.yaml"
[ "$RC" -eq 0 ] || fail "list --body: exit $RC: $(cat "$T/ready-clear.err")"
jq -e -s 'length == 7 and all(.body | fromjson | .biz_id != null)' "$T/ready-clear.out" >/dev/null ||
    fail "list --body: $(head -1 "$T/ready-clear.out")"
jq -r .id "$T/ready-clear.out" | sort >"$T/ready.ids"
run deliver1 fz outbox deliver --config "$T/gw-webhook.yaml"
[ "$RC" -eq 0 ] || fail "deliver: exit $RC: $(cat "$T/deliver1.err")"
grep -q '^fanzha outbox: 7 attempts: 7 delivered, 0 to retry, 0 dead; 0 store errors; ' "$T/deliver1.err" ||
    fail "deliver summary: $(cat "$T/deliver1.err")"
# webhook answers after record.sh has written the line: every request is there.
[ "$(lines "$WH_RECORDS")" -eq 7 ] || fail "$(lines "$WH_RECORDS") requests recorded, expected 7"
cut -f1 "$WH_RECORDS" | sort >"$T/recorded.ids"
cmp -s "$T/ready.ids" "$T/recorded.ids" || fail "recorded keys are not the warning ids: $(diff "$T/ready.ids" "$T/recorded.ids" | head -4 | tr '\n' ' ')"
[ -z "$(uniq -d "$T/recorded.ids")" ] || fail "a warning recorded twice: $(uniq -d "$T/recorded.ids")"
while IFS=$'\t' read -r key body headers; do
    printf '%s' "$body" | base64 -d >"$T/rec.body"
    printf '%s' "$headers" | base64 -d >"$T/rec.headers"
    w=$(jq -c --arg k "$key" 'select(.id == $k)' "$T/ready-clear.out")
    [ -n "$w" ] || { fail "recorded key $key is no warning"; continue; }
    jq -e . "$T/rec.body" >/dev/null 2>&1 || { fail "$key: body is not JSON: $(cat "$T/rec.body")"; continue; }
    jq -e --argjson w "$w" '.mobile == $w.to and .content == $w.text and .biz_id == $w.id and
        .tags == [$w.category, $w.role] and .lang == $w.language and .channel == $w.channel and
        .created == ($w.created | todate) and .attempt == 1' "$T/rec.body" >/dev/null ||
        fail "$key: body $(cat "$T/rec.body") for $w"
    # The body is exactly what list --body said it would be.
    [ "$(jq -r .body <<<"$w")" = "$(cat "$T/rec.body")" ] || fail "$key: body differs from list --body"
    jq -e --arg k "$key" --arg t "Bearer $GW_TOKEN" '.Authorization == $t and .["Idempotency-Key"] == $k and
        .["X-Sender"] == "fanzha-test" and (.["Content-Type"] | startswith("application/json"))' "$T/rec.headers" >/dev/null ||
        fail "$key: headers $(cat "$T/rec.headers")"
done <"$WH_RECORDS"
jq -e '.mobile | startswith("+86")' "$T/rec.body" >/dev/null || fail "the gateway did not get the number in E.164"
run status2 fz outbox
jq -e '.ready == 0 and .scheduled == 1 and .dead == 0' "$T/status2.out" >/dev/null || fail "after deliver: $(cat "$T/status2.out")"
# A second deliver: nothing is due, nothing is sent.
run deliver2 fz outbox deliver --config "$T/gw-webhook.yaml"
[ "$RC" -eq 0 ] && grep -q '^fanzha outbox: 0 attempts: 0 delivered' "$T/deliver2.err" || fail "second deliver: exit $RC: $(cat "$T/deliver2.err")"
[ "$(lines "$WH_RECORDS")" -eq 7 ] || fail "the second deliver sent $(($(lines "$WH_RECORDS") - 7)) more"
# The scan again (a replayed stream): all duplicates, nothing queued or sent.
run scan2 fz scan --rules "$RULES" --warn -o /dev/null "$T/messages.jsonl"
[ "$(warn_count "$T/scan2.err" queued)" = 0 ] || fail "a replayed stream queued again: $(grep 'warnings queued' "$T/scan2.err")"
run deliver3 fz outbox deliver --config "$T/gw-webhook.yaml"
[ "$(lines "$WH_RECORDS")" -eq 7 ] || fail "a replayed stream was delivered again"
# The quiet-hours warning stays scheduled; purge it by id (an unknown id: exit 1).
QID=$(jq -r .id "$T/list-sched.out")
run purge-q fz outbox purge --box scheduled "$QID"
[ "$RC" -eq 0 ] && grep -q '^fanzha outbox: 1 warnings deleted$' "$T/purge-q.err" || fail "purge id: exit $RC: $(cat "$T/purge-q.err")"
run purge-q2 fz outbox purge --box scheduled "$QID"
[ "$RC" -eq 1 ] || fail "purge of an id no longer there: exit $RC"
[ "$(status scheduled)" = 0 ] || fail "scheduled after purge: $(status scheduled)"
grep -q "$GW_TOKEN" "$T/public.log" && fail "the token was printed"
ok "7 warnings recorded once each, key = id, template filled, token header; then nothing more"

# --- 4. a gateway outage under deliver --follow ----------------------------------------------------------

case_ "outage"
S2="$T/state2"
fz2() { FANZHA_STATE_DIR="$S2" "$FANZHA" "$@"; }
N_RES=8
for i in $(seq 1 $N_RES); do
    printf '{"number":"1360100000%d","guardians":["1390100000%d"],"name":"居民%d"}\n' "$i" "$i" "$i"
done >"$T/residents2.jsonl"
run import2 fz2 resident import "$T/residents2.jsonl"
[ "$RC" -eq 0 ] || fail "import: $(cat "$T/import2.err")"
for i in $(seq 1 $N_RES); do
    printf '{"id":%d,"from":"17012345678","to":"1360100000%d","text":"%s"}\n' "$i" "$i" "$POLICE1"
done >"$T/police2.jsonl"
run scan3 fz2 scan --rules "$RULES" --warn -o /dev/null "$T/police2.jsonl"
N=$((2 * N_RES))
[ "$(warn_count "$T/scan3.err" queued)" = "$N" ] || fail "queued: $(grep 'warnings queued' "$T/scan3.err")"
[ "$(status ready "$S2")" = "$N" ] || fail "ready: $(status ready "$S2"), expected $N"
receiver_start --mode 503 --retry-after 1 || exit 1
cat >"$T/gw-rx.yaml" <<EOF
gateway:
  url: $RX_URL/v1/warnings
  headers: ["Authorization: Bearer \${GW_TOKEN}"]
  body: '{"to":"{{to}}","text":"{{text}}","ref":"{{id}}"}'
  timeout_ms: 3000
  concurrency: 8
  max_attempts: 100
  backoff_base_ms: 200
  backoff_max_ms: 1000
  retry_after_max_s: 2
EOF
FANZHA_STATE_DIR="$S2" "$FANZHA" outbox deliver --follow --config "$T/gw-rx.yaml" >"$T/follow.out" 2>"$T/follow.err" &
DPID=$!
BG_PIDS+=("$DPID")
sleep 3
rx_stats >"$T/stats-down.json" || fail "receiver /_stats"
jq -e '.requests >= 8 and .accepted == 0 and .statuses["503"] >= 8' "$T/stats-down.json" >/dev/null ||
    fail "during the outage: $(cat "$T/stats-down.json")"
[ "$(status dead "$S2")" = 0 ] || fail "dead letters during a 503 outage"
kill -0 "$DPID" 2>/dev/null || fail "the deliverer stopped during the outage: $(cat "$T/follow.err")"
rx_control '{"mode":"ok"}' || fail "receiver /_control"
# drained: one `fanzha outbox` that answers (exit 0, JSON) with nothing ready or scheduled.
drained() {
    local out rc=0
    out=$(FANZHA_STATE_DIR="$S2" "$FANZHA" outbox 2>>"$T/drain.err") || rc=$?
    [ "$rc" -eq 0 ] && jq -e '.ready == 0 and .scheduled == 0' <<<"$out" >/dev/null 2>&1
}
wait_for 30 drained || fail "not drained 30 s after the gateway came back: $(fz2 outbox 2>&1); the deliverer: $(tail -1 "$T/follow.err")"
kill -TERM "$DPID" 2>/dev/null || true
wait_pid "$DPID" 10
cat "$T/follow.out" "$T/follow.err" >>"$T/public.log"
[ "$RC" -eq 0 ] || fail "deliver --follow after SIGTERM: exit $RC (124: did not stop): $(tail -3 "$T/follow.err")"
SUM=$(grep '^fanzha outbox: [0-9]* attempts: ' "$T/follow.err" | tail -1)
[ -n "$SUM" ] || fail "no summary line: $(tail -3 "$T/follow.err")"
att=$(sed -n 's/^fanzha outbox: \([0-9]*\) attempts: .*/\1/p' <<<"$SUM")
del=$(sed -n 's/.* \([0-9]*\) delivered.*/\1/p' <<<"$SUM")
ret=$(sed -n 's/.* \([0-9]*\) to retry.*/\1/p' <<<"$SUM")
dead=$(sed -n 's/.* \([0-9]*\) dead;.*/\1/p' <<<"$SUM")
[ "$del" = "$N" ] && [ "$dead" = 0 ] && [ "$ret" -ge "$N" ] && [ "$att" -eq $((del + ret)) ] || fail "summary: $SUM"
grep -q 'attempt 1: .*503' "$T/follow.err" || fail "no line for a failed attempt: $(head -3 "$T/follow.err")"
rx_stats >"$T/stats-up.json"
jq -e --argjson n "$N" '.accepted == $n and .duplicates == 0 and .keys == $n and .requests > .accepted' \
    "$T/stats-up.json" >/dev/null || fail "receiver: $(cat "$T/stats-up.json"), expected $N accepted"
# Every warning accepted exactly once, each attempt with its key.
[ "$(jq -r 'select(.status == 200) | .headers["Idempotency-Key"]' "$RX_LOG" | sort | uniq | wc -l)" -eq "$N" ] &&
    [ "$(jq -r 'select(.status == 200) | .headers["Idempotency-Key"]' "$RX_LOG" | wc -l)" -eq "$N" ] ||
    fail "accepted requests: $(jq -r 'select(.status == 200) | .headers["Idempotency-Key"]' "$RX_LOG" | sort | uniq -c | head -3)"
jq -e -s --arg t "Bearer $GW_TOKEN" 'all(.headers["Idempotency-Key"] == (.body | fromjson | .ref) and .headers.Authorization == $t)' \
    "$RX_LOG" >/dev/null || fail "a key differs from the body's id, or the token header is missing"
[ "$(status dead "$S2")" = 0 ] || fail "dead letters after the outage"
ok "$N warnings through a 3 s outage: $SUM"

# --- 5. dead letters -------------------------------------------------------------------------------------

case_ "dead-letters"
# A state directory of its own: this case does not depend on the outage's.
S3="$T/state3"
fz3() { FANZHA_STATE_DIR="$S3" "$FANZHA" "$@"; }
run import3 fz3 resident import "$T/residents2.jsonl"
[ "$RC" -eq 0 ] || fail "import: $(cat "$T/import3.err")"
rx_control '{"mode":"400","retry_after":null,"reset_stats":true}' || fail "receiver /_control"
for i in $(seq 1 $N_RES); do
    printf '{"id":%d,"from":"15685745577","to":"1360100000%d","text":"%s"}\n' "$i" "$i" "$TASK"
done >"$T/task2.jsonl"
run scan4 fz3 scan --rules "$RULES" --warn -o /dev/null "$T/task2.jsonl"
[ "$(warn_count "$T/scan4.err" queued)" = "$N_RES" ] || fail "queued: $(grep 'warnings queued' "$T/scan4.err")"
run dl1 fz3 outbox deliver --config "$T/gw-rx.yaml"
[ "$RC" -eq 0 ] || fail "deliver: exit $RC: $(cat "$T/dl1.err")"
grep -q "^fanzha outbox: $N_RES attempts: 0 delivered, 0 to retry, $N_RES dead; " "$T/dl1.err" || fail "deliver summary: $(tail -1 "$T/dl1.err")"
[ "$(grep -c '(dead letter)$' "$T/dl1.err")" -eq "$N_RES" ] || fail "dead letter lines: $(head -2 "$T/dl1.err")"
fz3 outbox | jq -e '.ready == 0 and .scheduled == 0 and .dead == 8' >/dev/null || fail "status: $(fz3 outbox 2>&1)"
run dead-list fz3 outbox list --box dead
[ "$(lines "$T/dead-list.out")" -eq "$N_RES" ] || fail "dead list: $(lines "$T/dead-list.out") lines"
jq -e -s 'all(.attempts == 1 and (.last_error | test("400")) and (.to | contains("****")) and .category == "task_rebate")' \
    "$T/dead-list.out" >/dev/null || fail "dead list: $(head -1 "$T/dead-list.out")"
# The receiver echoes the request (with the number) in its 400 body: the error must not quote it.
found=$(numbers_in <(jq -r .last_error "$T/dead-list.out") $(seq 13601000001 13601000008))
[ -z "$found" ] || fail "a number in last_error: $(jq -r .last_error "$T/dead-list.out" | head -1)"
[ "$(jq -r 'select(.status == 400) | .headers["Idempotency-Key"]' "$RX_LOG" | sort -u | wc -l)" -eq "$N_RES" ] ||
    fail "the receiver did not see $N_RES refused requests"
# replay one, then the rest: back in the queue with their attempts reset.
ONE=$(head -1 "$T/dead-list.out" | jq -r .id)
run replay1 fz3 outbox replay "$ONE"
[ "$RC" -eq 0 ] && grep -q '^fanzha outbox: 1 warnings back in the queue$' "$T/replay1.err" || fail "replay id: exit $RC: $(cat "$T/replay1.err")"
[ "$(status ready "$S3")" = 1 ] && [ "$(status dead "$S3")" = $((N_RES - 1)) ] || fail "after replaying one: $(fz3 outbox 2>&1)"
run replay-bad fz3 outbox replay 0123456789abcdef0123456789abcdef
[ "$RC" -eq 1 ] || fail "replay of an unknown id: exit $RC"
run replay-all fz3 outbox replay
[ "$RC" -eq 0 ] && grep -q "^fanzha outbox: $((N_RES - 1)) warnings back in the queue$" "$T/replay-all.err" || fail "replay: exit $RC: $(cat "$T/replay-all.err")"
run ready2 fz3 outbox list
[ "$(lines "$T/ready2.out")" -eq "$N_RES" ] && jq -e -s 'all(.attempts == 0)' "$T/ready2.out" >/dev/null ||
    fail "replayed: $(head -1 "$T/ready2.out")"
rx_control '{"mode":"ok"}'
run dl2 fz3 outbox deliver --config "$T/gw-rx.yaml"
grep -q "^fanzha outbox: $N_RES attempts: $N_RES delivered, 0 to retry, 0 dead; " "$T/dl2.err" || fail "deliver after replay: $(cat "$T/dl2.err")"
rx_stats | jq -e --argjson n "$N_RES" '.accepted == $n and .duplicates == 0' >/dev/null || fail "receiver: $(rx_stats)"
fz3 outbox | jq -e '.ready == 0 and .scheduled == 0 and .dead == 0' >/dev/null || fail "after replay and deliver: $(fz3 outbox 2>&1)"
# Two more dead letters (another scam, two residents), for purge.
rx_control '{"mode":"400"}'
for i in 1 2; do printf '{"id":%d,"from":"17012345678","to":"1360100000%d","text":"%s"}\n' "$i" "$i" "$ETC"; done >"$T/etc2.jsonl"
run scan5 fz3 scan --rules "$RULES" --warn -o /dev/null "$T/etc2.jsonl"
run dl3 fz3 outbox deliver -q --config "$T/gw-rx.yaml"
grep -q '^fanzha outbox: 2 attempts: 0 delivered, 0 to retry, 2 dead; ' "$T/dl3.err" && [ "$(lines "$T/dl3.err")" -eq 1 ] ||
    fail "deliver -q: $(cat "$T/dl3.err")"
run purge-nobox fz3 outbox purge --all
[ "$RC" -eq 2 ] && grep -q 'needs --box' "$T/purge-nobox.err" || fail "purge without --box: exit $RC: $(cat "$T/purge-nobox.err")"
run purge-noids fz3 outbox purge --box dead
[ "$RC" -eq 2 ] || fail "purge without ids or --all: exit $RC"
run purge-badbox fz3 outbox purge --box limbo --all
[ "$RC" -eq 2 ] || fail "purge --box limbo: exit $RC"
[ "$(status dead "$S3")" = 2 ] || fail "a refused purge deleted something"
run purge-all fz3 outbox purge --box dead --all
[ "$RC" -eq 0 ] && grep -q '^fanzha outbox: 2 warnings deleted$' "$T/purge-all.err" || fail "purge --all: exit $RC: $(cat "$T/purge-all.err")"
fz3 outbox | jq -e '.ready == 0 and .scheduled == 0 and .dead == 0' >/dev/null || fail "after purge: $(fz3 outbox 2>&1)"
run verb2 fz outbox frobnicate
[ "$RC" -eq 2 ] || fail "outbox frobnicate: exit $RC"
ok "400: dead letters (attempts 1, last error 400, no number), replay one / all, delivered; purge"

# --- 6. configuration mistakes -------------------------------------------------------------------------

case_ "config"
RX_BEFORE=$(rx_stats | jq .requests)
printf '# a typo\ngateway:\n  url: %s/v1\n  timeotu_ms: 100\n' "$RX_URL" >"$T/typo.yaml"
run typo fz outbox deliver --config "$T/typo.yaml"
[ "$RC" -eq 2 ] && grep -qF "$T/typo.yaml:4:3: unknown key 'timeotu_ms'" "$T/typo.err" || fail "unknown key: exit $RC: $(cat "$T/typo.err")"
# ... also through FANZHA_CONFIG, and for any command reading it.
RC=0
FANZHA_CONFIG="$T/typo.yaml" "$FANZHA" resident list >/dev/null 2>"$T/typo2.err" || RC=$?
[ "$RC" -eq 2 ] && grep -qF "$T/typo.yaml:4:3:" "$T/typo2.err" || fail "FANZHA_CONFIG unknown key: exit $RC: $(cat "$T/typo2.err")"
printf 'gateway:\n  url: %s/v1\n  concurrency: many\n' "$RX_URL" >"$T/type.yaml"
run type fz outbox deliver --config "$T/type.yaml"
[ "$RC" -eq 2 ] && grep -qF "$T/type.yaml:3:" "$T/type.err" || fail "wrong type: exit $RC: $(cat "$T/type.err")"
printf 'state_dir: %s\n' "$T/state-from-file" >"$T/nogw.yaml"
run nogw fz outbox deliver --config "$T/nogw.yaml"
[ "$RC" -eq 2 ] && grep -q "no gateway configured" "$T/nogw.err" || fail "no gateway: exit $RC: $(cat "$T/nogw.err")"
run noconf fz outbox deliver
[ "$RC" -eq 2 ] && grep -q "no gateway configured" "$T/noconf.err" || fail "no config: exit $RC: $(cat "$T/noconf.err")"
# state_dir of the file is used when FANZHA_STATE_DIR is not set.
RC=0
env -u FANZHA_STATE_DIR "$FANZHA" outbox --config "$T/nogw.yaml" >"$T/sd.out" 2>&1 || RC=$?
[ "$RC" -eq 0 ] && jq -e --arg s "embedded ($T/state-from-file/state.db)" '.store == $s' "$T/sd.out" >/dev/null ||
    fail "state_dir from the file: exit $RC: $(cat "$T/sd.out")"
for url in http://example.com/v1 http://10.1.2.3:8080/v1 http://gateway.example.cn/hook; do
    printf 'gateway:\n  url: %s\n' "$url" >"$T/remote.yaml"
    run remote fz outbox deliver --config "$T/remote.yaml"
    [ "$RC" -eq 2 ] && grep -q "loopback" "$T/remote.err" || fail "$url: exit $RC: $(cat "$T/remote.err")"
done
printf 'gateway:\n  url: %s/v1\n  headers: ["Authorization: Bearer ${FZ_TEST_UNSET_TOKEN}"]\n' "$RX_URL" >"$T/noenv.yaml"
run noenv env -u FZ_TEST_UNSET_TOKEN "$FANZHA" outbox deliver --config "$T/noenv.yaml"
[ "$RC" -eq 2 ] && grep -q "FZ_TEST_UNSET_TOKEN" "$T/noenv.err" || fail "unset token variable: exit $RC: $(cat "$T/noenv.err")"
printf 'gateway:\n  url: %s/v1\n  body: %s\n' "$RX_URL" "'{\"to\":\"{{phone}}\"}'" >"$T/ph.yaml"
run ph fz outbox deliver --config "$T/ph.yaml"
[ "$RC" -eq 2 ] && grep -q "unknown placeholder" "$T/ph.err" || fail "unknown placeholder: exit $RC: $(cat "$T/ph.err")"
printf 'gateway:\n  url: %s/v1\n  body: %s\n' "$RX_URL" "'{\"to\":{{to}}}'" >"$T/unq.yaml"
run unq fz outbox deliver --config "$T/unq.yaml"
[ "$RC" -eq 2 ] && grep -q "not JSON" "$T/unq.err" || fail "unquoted placeholder: exit $RC: $(cat "$T/unq.err")"
run nofile fz outbox deliver --config "$T/no-such-file.yaml"
[ "$RC" -ne 0 ] && grep -q "cannot read" "$T/nofile.err" || fail "missing config file: exit $RC: $(cat "$T/nofile.err")"
# None of these sent anything.
[ "$(rx_stats | jq .requests)" -eq "$RX_BEFORE" ] || fail "a refused configuration sent requests"
ok "file:line:col, exit 2; no gateway; plain http:// to a remote host refused; unset token; bad template"

# --- privacy: no registered number in clear in anything printed ----------------------------------------------

case_ "privacy"
# shellcheck disable=SC2086
found=$(numbers_in "$T/public.log" $NUMBERS $(seq 13601000001 13601000008) $(seq 13901000001 13901000008))
[ -z "$found" ] || fail "in clear in what fanzha printed: $found ($(grep -n "${found%% *}" "$T/public.log" | head -2))"
# The check sees a number when there is one: the --show-numbers listings have them.
[ "$(numbers_in "$T/list-clear.out" $A $G1)" = "$A
$G1" ] || fail "the check does not see numbers in clear"
[ -s "$T/public.log" ] && [ "$(wc -l <"$T/public.log")" -gt 50 ] || fail "public.log is too small to mean anything"
ok "masked in every listing, verdict, summary and error"

if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
fi
echo "all warning checks passed"
