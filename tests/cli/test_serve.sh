#!/bin/bash
# test_serve.sh — `fanzha serve` driven by a real HTTP client (curl) on a
# loopback port, with the real rule pack (a copy, so that it can be broken)
# and a real gateway (tests/gateway/receiver.py) for the warnings the
# server delivers itself:
#
#   1. refusals at startup: no tokens, a short token, a bad address;
#   2. auth: /healthz and /readyz open; 401 without or with a wrong token
#      (WWW-Authenticate), 403 for a client token on admin endpoints;
#   3. /v1/check: a scam blocked, malformed JSON, an empty body, a body too
#      large (declared, and chunked), 404, 405 with Allow;
#   4. /v1/check/batch: one line out per record, in order, error records
#      with their line numbers, the same verdicts as `fanzha scan`;
#   5. /v1/reports, /v1/residents/{number} (PUT, GET, DELETE), a warning
#      queued by /v1/check and delivered once by the server, /v1/campaigns;
#   6. /metrics: `promtool check metrics` passes, counts add up, no number;
#   7. reload under load: batches in flight while the endpoint and SIGHUP
#      reload, every batch answered in full; a broken pack is refused with
#      file:line:col (422) and the running rules stay;
#   8. SIGTERM while a batch is in flight: the batch completes, exit 0;
#   9. no phone number in clear in the server's log or the metrics.
#
# Needs: FANZHA, SRC, curl, jq, python3, promtool (Debian "prometheus").
set -euo pipefail

: "${FANZHA:?set FANZHA to the fanzha binary}"
: "${SRC:?set SRC to the source tree}"
export FANZHA_CACHE="${FANZHA_CACHE:-}"
export FANZHA_HASH_KEY="test_serve.sh key"
unset FANZHA_REDIS FANZHA_CONFIG FANZHA_RULES FANZHA_API_TOKENS FANZHA_ADMIN_TOKENS
T=$(mktemp -d "${TMPDIR:-/tmp}/fanzha-serve-test.XXXXXX")
export FANZHA_STATE_DIR="$T/state"
# shellcheck source=lib.sh
. "$SRC/tests/cli/lib.sh"
trap lib_cleanup EXIT
[ -z "${KEEP:-}" ] || trap - EXIT

for tool in jq curl python3 promtool; do
    command -v "$tool" >/dev/null 2>&1 || { echo "test_serve.sh needs $tool" >&2; exit 1; }
done

CLIENT="client-$$-$RANDOM-0123456789"
ADMIN="admin-$$-$RANDOM-0123456789"
RES=13812345678 RES_E164=+8613812345678 GUARD=13900001111
SENDER=17012345678 OTHER=13700009999
NUMBERS="$RES $GUARD $SENDER $OTHER"

cp -r "$SRC/rules" "$T/rules"
printf '# test tokens\n%s\nadmin %s\n' "$CLIENT" "$ADMIN" >"$T/tokens"
chmod 600 "$T/tokens"

# --- the server -----------------------------------------------------------------------------------

# The server under test (lib.sh's serve_start): log in $T/serve.log.
serve_here() {
    serve_start "$T" --rules "$T/rules" --config "$T/config.yaml" --tokens "$T/tokens" --threads 2 "$@" || exit 1
}

# http NAME [TOKEN|-] CURL-ARGS...: a request; body in $T/NAME.body,
# headers in $T/NAME.hdr, the status in CODE.
http() {
    local name="$1" token="$2"
    shift 2
    local auth=()
    [ "$token" = - ] || auth=(-H "Authorization: Bearer $token")
    CODE=$(curl -s -o "$T/$name.body" -D "$T/$name.hdr" -w '%{http_code}' "${auth[@]}" "$@" || true)
    cat "$T/$name.body" >>"$T/public.log"
}

receiver_start
cat >"$T/config.yaml" <<EOF
gateway:
  url: $RX_URL/warn
  body: '{"to":"{{to}}","text":"{{text}}","ref":"{{id}}"}'
  backoff_base_ms: 100
EOF

# --- 1. refusals at startup ---------------------------------------------------------------------------

case_ "startup"
run nostart "$FANZHA" serve --listen 127.0.0.1:0 --rules "$T/rules" --state-dir "$T/state0"
[ "$RC" -ne 0 ] || fail "started without tokens"
grep -q "no API tokens" "$T/nostart.err" || fail "no reason given: $(cat "$T/nostart.err")"
RC=0; FANZHA_API_TOKENS=short "$FANZHA" serve --rules "$T/rules" --state-dir "$T/state0" 2>"$T/short.err" || RC=$?
[ "$RC" -ne 0 ] && grep -q "at least 16" "$T/short.err" || fail "a short token was taken (rc $RC)"
RC=0; FANZHA_API_TOKENS="$CLIENT" "$FANZHA" serve --listen nonsense --rules "$T/rules" --state-dir "$T/state0" \
    2>"$T/listen.err" || RC=$?
[ "$RC" -ne 0 ] && grep -q "host:port" "$T/listen.err" || fail "a bad address was taken (rc $RC)"
# The sample configuration parses (it then fails on its tokens file, which is not here).
RC=0; GATEWAY_TOKEN=x "$FANZHA" serve --config "$SRC/tools/deploy/fanzha.yaml" --redis "" --state-dir "$T/state0" \
    --rules "$T/rules" 2>"$T/sample.err" || RC=$?
[ "$RC" = 3 ] && grep -q "tokens file /etc/fanzha/tokens" "$T/sample.err" || fail "sample config: rc $RC $(cat "$T/sample.err")"
printf 'serve:\n  listen: 127.0.0.1:0\n  threads: many\n' >"$T/typo.yaml"
RC=0; "$FANZHA" serve --config "$T/typo.yaml" --state-dir "$T/state0" 2>"$T/typo.err" || RC=$?
[ "$RC" = 2 ] && grep -q "typo.yaml:3:12" "$T/typo.err" || fail "config mistake: rc $RC $(cat "$T/typo.err")"
ok "no tokens, short tokens, bad addresses and config mistakes are refused; the sample config parses"

serve_here
VERSION=$(curl -s "$URL/readyz" | jq -r .rules_version)

# --- 2. auth ---------------------------------------------------------------------------------------------

case_ "auth"
http health - "$URL/healthz"
[ "$CODE" = 200 ] || fail "healthz: $CODE"
http ready - "$URL/readyz"
[ "$CODE" = 200 ] && [ "$(jq -r .ready "$T/ready.body")" = true ] || fail "readyz: $CODE"
http noauth - -d '{"text":"x"}' "$URL/v1/check"
[ "$CODE" = 401 ] || fail "no token: $CODE"
grep -qi '^WWW-Authenticate: Bearer' "$T/noauth.hdr" || fail "401 without WWW-Authenticate"
[ "$(jq -r .error "$T/noauth.body")" != null ] || fail "401 without a JSON error"
http wrong "${CLIENT}x" -d '{"text":"x"}' "$URL/v1/check"
[ "$CODE" = 401 ] || fail "wrong token: $CODE"
http prefix "${CLIENT:0:20}" -d '{"text":"x"}' "$URL/v1/check"
[ "$CODE" = 401 ] || fail "a prefix of a token: $CODE"
http basic - -H "Authorization: Basic $(printf 'a:%s' "$CLIENT" | base64)" -d '{"text":"x"}' "$URL/v1/check"
[ "$CODE" = 401 ] || fail "basic auth: $CODE"
http client_reload "$CLIENT" -X POST "$URL/v1/rules/reload"
[ "$CODE" = 403 ] || fail "client token reloads: $CODE"
http client_res "$CLIENT" "$URL/v1/residents/$RES"
[ "$CODE" = 403 ] || fail "client token reads residents: $CODE"
http nometrics - "$URL/metrics"
[ "$CODE" = 401 ] || fail "metrics without a token: $CODE"
http admin_check "$ADMIN" -d '{"text":"hello"}' "$URL/v1/check"
[ "$CODE" = 200 ] || fail "an admin token cannot check: $CODE"
ok "open health, 401 and 403 where due"

# --- 3. /v1/check -----------------------------------------------------------------------------------------

case_ "check"
SCAM="【公安局】你涉嫌洗钱，请立即将资金转入安全账户 6222021234567890123，否则冻结"
http scam "$CLIENT" -H 'Content-Type: application/json' \
    -d "{\"id\":\"m-1\",\"from\":\"+86$SENDER\",\"to\":\"+86$OTHER\",\"text\":\"$SCAM\"}" "$URL/v1/check"
[ "$CODE" = 200 ] || fail "scam: $CODE $(cat "$T/scam.body")"
[ "$(jq -r .action "$T/scam.body")" = block ] || fail "not blocked: $(cat "$T/scam.body")"
[ "$(jq -r .id "$T/scam.body")" = m-1 ] || fail "id not echoed"
[ "$(jq -r .rules_version "$T/scam.body")" = "$VERSION" ] || fail "no rules_version"
http bad "$CLIENT" -d '{"text":' "$URL/v1/check"
[ "$CODE" = 400 ] && jq -e '.error | test("JSON")' "$T/bad.body" >/dev/null || fail "malformed JSON: $CODE $(cat "$T/bad.body")"
http empty "$CLIENT" -d '' "$URL/v1/check"
[ "$CODE" = 400 ] || fail "empty body: $CODE"
http notext "$CLIENT" -d '{"id":1}' "$URL/v1/check"
[ "$CODE" = 400 ] || fail "no text: $CODE $(cat "$T/notext.body")"
head -c 70000 /dev/zero | tr '\0' a >"$T/big"
http big "$CLIENT" --data-binary @"$T/big" "$URL/v1/check"
[ "$CODE" = 413 ] && [ "$(jq -r .error "$T/big.body")" != null ] || fail "declared large body: $CODE"
http chunked "$CLIENT" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$URL/v1/check"
[ "$CODE" = 413 ] || fail "chunked large body: $CODE"
http nf "$CLIENT" "$URL/v2/check"
[ "$CODE" = 404 ] || fail "unknown path: $CODE"
http wrongm "$CLIENT" "$URL/v1/check"
[ "$CODE" = 405 ] && grep -qi '^Allow: POST' "$T/wrongm.hdr" || fail "GET /v1/check: $CODE"
http ctl "$CLIENT" -d $'{"text":"\\u0000\\u0007\xff\xfe 中奖"}' "$URL/v1/check"
[ "$CODE" = 200 ] || fail "control characters and invalid UTF-8: $CODE"
ok "verdicts, 400, 413 (declared and chunked), 404, 405"

# --- 4. /v1/check/batch ---------------------------------------------------------------------------------------

case_ "batch"
cat "$SRC"/tests/data/corpus/*.jsonl "$SRC/tests/data/sample-sms.jsonl" >"$T/batch.in"
IN=$(lines "$T/batch.in")
{ cat "$T/batch.in"; printf '\nnot json\n{"text":"last"}\n'; } >"$T/batch.body.in"
http batch "$CLIENT" -H 'Content-Type: application/x-ndjson' --data-binary @"$T/batch.body.in" "$URL/v1/check/batch"
[ "$CODE" = 200 ] || fail "batch: $CODE"
OUT=$(lines "$T/batch.body")
[ "$OUT" -eq $((IN + 2)) ] || fail "records in $((IN + 2)), lines out $OUT"
[ "$(sed -n "$((IN + 1))p" "$T/batch.body" | jq -r .line)" = $((IN + 2)) ] || fail "the error record does not name line $((IN + 2))"
[ "$(tail -1 "$T/batch.body" | jq -r .action)" = allow ] || fail "the last record is not last"
"$FANZHA" scan --rules "$T/rules" --state none -q "$T/batch.in" >"$T/scan.out"
diff <(jq -c '[.id, .action, .score]' "$T/scan.out") <(head -n "$IN" "$T/batch.body" | jq -c '[.id, .action, .score]') \
    >"$T/batch.diff" || fail "batch verdicts differ from scan's: $(head -3 "$T/batch.diff")"
grep -qi '^Content-Type: application/x-ndjson' "$T/batch.hdr" || fail "batch content type"
ok "$IN records: one line each, in order, as scan scores them"

# --- 5. reports, residents, warnings, campaigns -------------------------------------------------------------------

case_ "reports"
printf '{"number":"+86%s","reporter":"r1"}\n{"number":"+86%s","reporter":"r2"}\n{"number":"nope"}\n' \
    "$SENDER" "$SENDER" | http reports "$CLIENT" --data-binary @- "$URL/v1/reports"
[ "$CODE" = 200 ] && [ "$(jq -r .recorded "$T/reports.body")" = 2 ] && [ "$(jq -r .unreadable "$T/reports.body")" = 1 ] ||
    fail "reports: $CODE $(cat "$T/reports.body")"
[ "$(jq -r '.errors[0].line' "$T/reports.body")" = 3 ] || fail "the unreadable report's line"
http rep_check "$CLIENT" -d "{\"from\":\"+86$SENDER\",\"to\":\"+86$OTHER\",\"text\":\"你好，在吗\"}" "$URL/v1/check"
jq -e '.sender.reports == 2' "$T/rep_check.body" >/dev/null || fail "the reported sender shows no reports: $(cat "$T/rep_check.body")"
ok "recorded, unreadable lines named, seen by scoring"

case_ "residents"
http put_client "$CLIENT" -X PUT -d '{"name":"王阿姨"}' "$URL/v1/residents/$RES_E164"
[ "$CODE" = 403 ] || fail "client PUT: $CODE"
http put "$ADMIN" -X PUT -d "{\"name\":\"王阿姨\",\"guardians\":[\"+86$GUARD\"]}" "$URL/v1/residents/%2B86$RES"
[ "$CODE" = 200 ] && [ "$(jq -r .number "$T/put.body")" = '+86138****5678' ] || fail "PUT: $CODE $(cat "$T/put.body")"
http get "$ADMIN" "$URL/v1/residents/$RES"
[ "$CODE" = 200 ] && [ "$(jq -r .name "$T/get.body")" = 王阿姨 ] || fail "GET: $CODE"
http mismatch "$ADMIN" -X PUT -d '{"number":"+8613700000000"}' "$URL/v1/residents/$RES"
[ "$CODE" = 400 ] || fail "a body with another number: $CODE"
http badesc "$ADMIN" -X PUT -d '{"name":"王\uZZZZ阿姨"}' "$URL/v1/residents/$RES"
[ "$CODE" = 400 ] || fail "a bad \\u escape: $CODE"
http badnum "$ADMIN" "$URL/v1/residents/hello"
[ "$CODE" = 400 ] || fail "not a number: $CODE"
http missing "$ADMIN" "$URL/v1/residents/$OTHER"
[ "$CODE" = 404 ] || fail "unknown resident: $CODE"
ok "PUT, GET, 400, 403, 404"

case_ "warning"
http warn "$CLIENT" -d "{\"id\":\"w-1\",\"from\":\"+86$SENDER\",\"to\":\"+86$RES\",\"text\":\"$SCAM\"}" "$URL/v1/check"
[ "$(jq -r .warning.status "$T/warn.body")" = queued ] || fail "no warning queued: $(cat "$T/warn.body")"
wait_for 20 sh -c "[ \"\$(curl -sf $RX_URL/_stats | jq -r .accepted)\" -ge 2 ]" ||
    fail "the server did not deliver the warnings: $(rx_stats)"
http warn2 "$CLIENT" -d "{\"id\":\"w-2\",\"from\":\"+86$SENDER\",\"to\":\"+86$RES\",\"text\":\"$SCAM\"}" "$URL/v1/check"
[ "$(jq -r .warning.status "$T/warn2.body")" = duplicate ] || fail "the repeat was not a duplicate: $(cat "$T/warn2.body")"
sleep 1
[ "$(rx_stats | jq -r .accepted)" = 2 ] && [ "$(rx_stats | jq -r .duplicates)" = 0 ] ||
    fail "resident + guardian once each: $(rx_stats)"
http del "$ADMIN" -X DELETE "$URL/v1/residents/$RES"
[ "$CODE" = 200 ] || fail "DELETE: $CODE"
http del2 "$ADMIN" -X DELETE "$URL/v1/residents/$RES"
[ "$CODE" = 404 ] || fail "DELETE twice: $CODE"
ok "queued by /v1/check, delivered by the server once, duplicate the second time"

case_ "campaigns"
for i in $(seq 1 60); do
    printf '{"id":"c-%d","to":"+861360000%04d","text":"【顺丰】您的快递丢失，请联系客服办理%d元理赔 http://sf-pay%d.cn"}\n' "$i" "$i" $((i + 100)) "$i"
done >"$T/camp.in"
http camp_batch "$CLIENT" --data-binary @"$T/camp.in" "$URL/v1/check/batch"
http camps "$CLIENT" "$URL/v1/campaigns?limit=5"
[ "$CODE" = 200 ] && jq -e '.campaigns | length >= 1 and .[0].recipients >= 50' "$T/camps.body" >/dev/null ||
    fail "no campaign: $CODE $(cat "$T/camps.body")"
ok "60 recipients of one template make a campaign"

# --- 6. metrics ------------------------------------------------------------------------------------------------------

case_ "metrics"
http metrics "$CLIENT" "$URL/metrics"
[ "$CODE" = 200 ] || fail "metrics: $CODE"
promtool check metrics <"$T/metrics.body" >"$T/promtool.out" 2>&1 || fail "promtool: $(head -5 "$T/promtool.out")"
m() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics.body"; }
TOTAL=$(awk '/^fanzha_messages_total\{/ { s += $2 } END { print s }' "$T/metrics.body")
[ "$TOTAL" -ge $((IN + 60)) ] || fail "messages_total $TOTAL < $((IN + 60))"
[ "$(m 'fanzha_http_requests_total{endpoint="check",code="413"}')" -ge 2 ] || fail "413s not counted"
[ "$(m fanzha_http_auth_failures_total)" -ge 3 ] || fail "auth failures not counted"
grep -q '^fanzha_rules_info{version="'"$VERSION"'"' "$T/metrics.body" || fail "no rules_info"
grep -q '^fanzha_scoring_duration_seconds_count' "$T/metrics.body" || fail "no scoring histogram"
grep -q '^fanzha_outbox_warnings{box="ready"}' "$T/metrics.body" || fail "no outbox depth"
[ "$(m 'fanzha_deliveries_total{result="delivered"}')" -ge 2 ] || fail "deliveries not counted"
grep -q '^fanzha_cache_requests_total{result="hit"}' "$T/metrics.body" || fail "no cache counters"
ok "promtool passes; messages $TOTAL; every family present"

# --- 7. reload under load ------------------------------------------------------------------------------------------------

case_ "reload"
for k in 1 2 3 4 5 6; do
    (curl -s -H "Authorization: Bearer $CLIENT" --data-binary @"$T/batch.in" -o "$T/load.$k" -w '%{http_code}' \
        "$URL/v1/check/batch" >"$T/load.$k.code") &
    BG_PIDS+=($!)
    if [ $((k % 2)) = 0 ]; then
        http reload "$ADMIN" -X POST "$URL/v1/rules/reload"
        [ "$CODE" = 200 ] && [ "$(jq -r .reloaded "$T/reload.body")" = true ] || fail "reload: $CODE $(cat "$T/reload.body")"
    else
        kill -HUP "$SV_PID"
    fi
done
wait "${BG_PIDS[@]}" 2>/dev/null || true
BG_PIDS=()
for k in 1 2 3 4 5 6; do
    [ "$(cat "$T/load.$k.code")" = 200 ] && [ "$(lines "$T/load.$k")" -eq "$IN" ] ||
        fail "batch $k during reloads: $(cat "$T/load.$k.code"), $(lines "$T/load.$k") of $IN lines"
done
# A reload that compiles (a new version: no cached database) is built off
# the request threads: scoring goes on meanwhile with the old rules, and a
# second reload is told to wait (409).
sed -i "s/^version: \"\\(.*\\)\"/version: \"\\1-reloaded-$$-$RANDOM\"/" "$T/rules/policy.yaml"  # never cached
(curl -s -H "Authorization: Bearer $ADMIN" -X POST -o "$T/slow.body" -w '%{http_code}' "$URL/v1/rules/reload" \
    >"$T/slow.code") &
SLOW_PID=$!
wait_for 10 grep -q . "$T/serve.log"     # (the server is up; give the reload a moment to start)
sleep 0.3
http busy "$ADMIN" -X POST "$URL/v1/rules/reload"
[ "$CODE" = 409 ] || fail "a second reload while one runs: $CODE"
http during "$CLIENT" -d "{\"text\":\"$SCAM\"}" "$URL/v1/check"
[ "$CODE" = 200 ] && [ "$(jq -r .rules_version "$T/during.body")" = "$VERSION" ] ||
    fail "scoring during a reload waited for it: $CODE $(jq -r .rules_version "$T/during.body")"
wait "$SLOW_PID" || true
[ "$(cat "$T/slow.code")" = 200 ] && jq -r .rules_version "$T/slow.body" | grep -q -- '-reloaded' ||
    fail "the compiling reload: $(cat "$T/slow.code") $(cat "$T/slow.body")"
NEW_VERSION=$(jq -r .rules_version "$T/slow.body")
echo "this is: [not yaml" >>"$T/rules/zh/$(ls "$T/rules/zh" | head -1)"
http broken "$ADMIN" -X POST "$URL/v1/rules/reload"
[ "$CODE" = 422 ] && [ "$(jq -r .reloaded "$T/broken.body")" = false ] || fail "broken pack: $CODE"
jq -r .error "$T/broken.body" | grep -Eq '\.yaml:[0-9]+:[0-9]+' || fail "no file:line:col: $(cat "$T/broken.body")"
[ "$(jq -r .running.rules_version "$T/broken.body")" = "$NEW_VERSION" ] || fail "the running version is not named"
kill -HUP "$SV_PID"
sleep 1
http after "$CLIENT" -d "{\"text\":\"$SCAM\"}" "$URL/v1/check"
[ "$CODE" = 200 ] && [ "$(jq -r .action "$T/after.body")" = block ] || fail "scoring after a refused reload: $CODE"
grep -q 'reload refused' "$T/serve.log" || fail "the refusal is not logged"
m_reload=$(curl -s -H "Authorization: Bearer $CLIENT" "$URL/metrics" | awk '/^fanzha_rule_reloads_total\{result="refused"\}/ { print $2 }')
[ "${m_reload:-0}" -ge 2 ] || fail "refused reloads not counted: $m_reload"
ok "6 batches of $IN during 6 reloads, all complete; scoring goes on during a compiling reload; a broken pack refused, the old one runs"

# --- 8. SIGTERM drains --------------------------------------------------------------------------------------------------

case_ "shutdown"
for k in 1 2 3 4; do cat "$T/batch.in"; done >"$T/big.in"
(curl -s -H "Authorization: Bearer $CLIENT" --data-binary @"$T/big.in" -o "$T/drain.out" -w '%{http_code}' \
    "$URL/v1/check/batch" >"$T/drain.code") &
CURL_PID=$!
sleep 0.3
kill -TERM "$SV_PID"
wait "$CURL_PID" || true
wait_pid "$SV_PID" 60
[ "$RC" = 0 ] || fail "exit status $RC after SIGTERM"
[ "$(cat "$T/drain.code")" = 200 ] && [ "$(lines "$T/drain.out")" -eq $((IN * 4)) ] ||
    fail "the batch in flight: $(cat "$T/drain.code"), $(lines "$T/drain.out") of $((IN * 4)) lines"
grep -q 'stopped; scored' "$T/serve.log" || fail "no final summary"
ok "the batch in flight completed; exit 0"

# --- 9. privacy ---------------------------------------------------------------------------------------------------------

case_ "privacy"
cat "$T/serve.log" "$T/metrics.body" >"$T/private.check"
LEAKED=$(numbers_in "$T/private.check" $NUMBERS)
[ -z "$LEAKED" ] || fail "numbers in clear in the log or metrics: $LEAKED"
grep -q "$CLIENT\|$ADMIN" "$T/private.check" && fail "a token in the log or metrics"
ok "no number or token in the log or the metrics"

[ "$FAILS" -eq 0 ] || { echo "test_serve.sh: $FAILS failure(s); server log:" >&2; tail -20 "$T/serve.log" >&2; exit 1; }
echo "test_serve.sh: all passed"
