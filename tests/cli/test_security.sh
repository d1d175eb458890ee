#!/bin/bash
# test_security.sh — the security promises of issue 7, checked on the real
# binary (and, where a behaviour cannot be observed from outside, on the
# source):
#
#   1. privacy: no phone number in clear in scan's error records and summary,
#      `fanzha serve`'s log, error bodies and /metrics, `fanzha outbox list`
#      and `fanzha resident list` without --show-numbers, `fanzha outbox
#      deliver`'s lines, and (when `fanzha worker` exists) the worker's log;
#   2. TLS verification cannot be switched off: no CURLOPT_SSL_VERIFYPEER /
#      VERIFYHOST set to 0 anywhere in the source; no configuration key for
#      it (insecure:, verify_tls:, ssl_verify: are unknown keys: exit 2, and
#      the keys the gateway section allows name none); a gateway with a
#      self-signed certificate is refused, and accepted once its CA is given
#      (ca_file);
#   3. tokens compared in constant time: serve_auth.c compares digests with
#      sodium_memcmp and no token goes through strcmp/memcmp; 401 for a
#      wrong token of any length, a prefix, a token plus one byte;
#   4. limits: a body over --max-body / --max-batch-body is 413 with a JSON
#      error; a record over --max-record is an error record; a rule file over
#      4 MiB and a regex too large are refused by `fanzha rules check` with
#      the file and the reason.
#
#   5. regex complexity: a pattern that makes Hyperscan blow up
#      ((a.{0,500}){40}b: 69 s and 327 MB to compile, then the slow path) is
#      refused by `rules check` at once, with its reason and position.
#
# Needs: FANZHA, SRC, curl, jq, python3, openssl, redis-server (for the
# worker check). FANZHA_CACHE is used when set.
set -euo pipefail

: "${FANZHA:?set FANZHA to the fanzha binary}"
: "${SRC:?set SRC to the source tree}"
export FANZHA_CACHE="${FANZHA_CACHE:-}"
export FANZHA_HASH_KEY="test_security.sh key"
unset FANZHA_REDIS FANZHA_CONFIG FANZHA_RULES FANZHA_API_TOKENS FANZHA_ADMIN_TOKENS
T=$(mktemp -d "${TMPDIR:-/tmp}/fanzha-security-test.XXXXXX")
export FANZHA_STATE_DIR="$T/state"
# shellcheck source=lib.sh
. "$SRC/tests/cli/lib.sh"
# shellcheck source=redis.sh
. "$SRC/tests/cli/redis.sh"
trap 'redis_stop; lib_cleanup' EXIT
[ -z "${KEEP:-}" ] || trap 'redis_stop; KEPT=$T; T=/nonexistent-kept; lib_cleanup; echo "kept $KEPT"' EXIT

for tool in jq curl python3 openssl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "test_security.sh needs $tool" >&2; exit 1; }
done

RES=13811112222 GUARD=13922223333 SENDER=17033334444 OTHER=13744445555 CARD_PHONE=15955556666
NUMBERS="$RES $GUARD $SENDER $OTHER $CARD_PHONE"
CLIENT="sec-client-$$-0123456789abcdef"
ADMIN="sec-admin-$$-0123456789abcdef"
POLICE='【公安局】您涉嫌一起洗钱案件，请立即将资金转入安全账户配合调查，联系电话15955556666。'

# --- 1. privacy ---------------------------------------------------------------------------------------------

case_ "privacy-scan"
fz() { "$FANZHA" "$@"; }
run res-add fz resident add "$RES" --guardian "$GUARD" --name 王阿姨
[ "$RC" -eq 0 ] || fail "resident add: $(cat "$T/res-add.err")"
# Records that cannot be read, each with numbers in it; one record over --max-record.
{
    printf '{"id":1,"from":"%s","to":"%s","text":"call %s now\n' "$SENDER" "$RES" "$OTHER"
    printf '{"id":2,"from":"%s","to":"%s","text":""}\n' "$SENDER" "$RES"
    printf '{"id":3,"from":"%s","to":"%s"}\n' "$SENDER" "$RES"
    printf '{"id":4,"from":"%s","to":"%s","text":12345}\n' "$SENDER" "$RES"
    printf '%s,%s\n' "$SENDER" "$RES"
    printf '{"id":5,"from":"%s","text":"a","x":[%s %s]}\n' "$SENDER" "$OTHER" "$OTHER"
    printf '{"id":6,"from":"%s","to":"%s","text":"%s%s"}\n' "$SENDER" "$RES" "$(head -c 3000 /dev/zero | tr '\0' 'x')" "$OTHER"
    printf '{"id":7,"from":"%s","to":"%s","text":"%s"}\n' "$SENDER" "$RES" "$POLICE"
    printf '{"id":8,"from":"%s","to":"%s","text":"%s"}\n' "$SENDER" "$OTHER" "$POLICE"
} >"$T/bad.jsonl"
run scan-bad fz scan --warn --max-record 2048 -o "$T/scan-bad.verdicts" "$T/bad.jsonl"
[ "$RC" -eq 0 ] || fail "scan: exit $RC: $(tail -2 "$T/scan-bad.err")"
[ "$(grep -c '^{"line":' "$T/scan-bad.err")" -eq 7 ] || fail "error records: $(grep -c '^{"line":' "$T/scan-bad.err"), expected 7"
grep -q '"error":"record too long' "$T/scan-bad.err" || fail "no record-too-long error record"
grep -q '^fanzha scan: warnings queued 2 ' "$T/scan-bad.err" || fail "the police scam to the resident queued no warnings: $(grep warnings "$T/scan-bad.err")"
printf 'id,from,to,text\n1,%s,%s\n2,%s,%s,"x,%s\n' "$SENDER" "$RES" "$SENDER" "$RES" "$OTHER" >"$T/bad.csv"
run scan-csv fz scan --state none -o /dev/null "$T/bad.csv"
[ "$(grep -c '^{"line":' "$T/scan-csv.err")" -eq 2 ] || fail "CSV error records: $(cat "$T/scan-csv.err")"
ok "scan error records and summary (numbers checked at the end)"

case_ "privacy-listings"
run res-list fz resident list
run res-show fz resident show "$RES"
run ob-list fz outbox list
printf 'gateway:\n  url: http://127.0.0.1:9/v1\n  body: %s\n' "'{\"to\":\"{{to}}\",\"text\":\"{{text}}\"}'" >"$T/body.yaml"
[ "$(lines "$T/ob-list.out")" -eq 2 ] || fail "outbox list: $(lines "$T/ob-list.out") lines, expected 2"
grep -q '\*\*\*\*' "$T/ob-list.out" && grep -q '\*\*\*\*' "$T/res-list.out" || fail "listings are not masked"
# The check sees a number when there is one: --show-numbers shows them.
fz outbox list --show-numbers >"$T/clear.out" 2>/dev/null
[ -n "$(numbers_in "$T/clear.out" "$RES")" ] || fail "the number check does not see a number in clear"
ok "resident list/show and outbox list masked"

case_ "privacy-outbox-body"
# `outbox list --body` without --show-numbers: the rendered gateway body must
# not carry the number in clear either (it did when this test was written:
# "to" masked, "body" with +86... in clear; reported in issue 7).
printf 'gateway:\n  url: http://127.0.0.1:9/v1\n  body: %s\n' "'{\"to\":\"{{to}}\",\"text\":\"{{text}}\"}'" >"$T/body.yaml"
fz outbox list --body --config "$T/body.yaml" >"$T/ob-body.out" 2>"$T/ob-body.err" || fail "outbox list --body: $(cat "$T/ob-body.err")"
[ "$(lines "$T/ob-body.out")" -eq 2 ] && jq -e -s 'all(has("body"))' "$T/ob-body.out" >/dev/null || fail "outbox list --body: $(head -c 300 "$T/ob-body.out")"
leaked=$(numbers_in "$T/ob-body.out" "$RES" "$GUARD")
[ -z "$leaked" ] || fail "outbox list --body shows $(echo $leaked) in clear without --show-numbers: $(jq -r .body "$T/ob-body.out" | head -1 | head -c 120)"
ok "outbox list --body masked"

# --- serve: log, error bodies, metrics ---

case_ "privacy-serve"
printf '%s\nadmin %s\n' "$CLIENT" "$ADMIN" >"$T/tokens"
chmod 600 "$T/tokens"
receiver_start --mode 400
cat >"$T/gw.yaml" <<EOF
gateway:
  url: $RX_URL/v1/warnings
  body: '{"to":"{{to}}","text":"{{text}}","ref":"{{id}}"}'
  max_attempts: 2
  backoff_base_ms: 50
EOF
serve_start "$T" --tokens "$T/tokens" --threads 2 --config "$T/gw.yaml" --state-dir "$T/state-serve" \
    --max-batch-body 1048576 || exit 1
# http NAME TOKEN CURL-ARGS...: body in $T/NAME.body, status in CODE. Error
# bodies are kept for the check (verdicts name the numbers written in the
# text, under "entities": that is what they are for).
http() {
    local name="$1" token="$2"
    shift 2
    CODE=$(curl -s -o "$T/$name.body" -w '%{http_code}' -H "Authorization: Bearer $token" "$@" || true)
    case "$CODE" in 2??) ;; *) { cat "$T/$name.body"; echo; } >>"$T/public.log" ;; esac
}
http put "$ADMIN" -X PUT -d "{\"guardians\":[\"$GUARD\"]}" "$URL/v1/residents/$RES"
[ "$CODE" = 200 ] || fail "PUT resident: $CODE"
http warn "$CLIENT" -d "{\"id\":\"w\",\"from\":\"$SENDER\",\"to\":\"$RES\",\"text\":\"$POLICE\"}" "$URL/v1/check"
[ "$CODE" = 200 ] && [ "$(jq -r .warning.status "$T/warn.body")" = queued ] || fail "no warning queued: $(cat "$T/warn.body")"
http badjson "$CLIENT" -d "{\"from\":\"$SENDER\",\"to\":\"$RES\",\"text\":\"call $OTHER" "$URL/v1/check"
[ "$CODE" = 400 ] || fail "bad JSON: $CODE"
http badtext "$CLIENT" -d "{\"from\":\"$SENDER\",\"to\":\"$RES\",\"text\":$OTHER}" "$URL/v1/check"
[ "$CODE" = 400 ] || fail "text a number: $CODE"
http badres "$ADMIN" -X PUT -d "{\"number\":\"$OTHER\"}" "$URL/v1/residents/$RES"
[ "$CODE" = 400 ] || fail "PUT with another number: $CODE"
http badguard "$ADMIN" -X PUT -d "{\"guardians\":[\"call $OTHER\"]}" "$URL/v1/residents/$RES"
[ "$CODE" = 400 ] || fail "bad guardian: $CODE"
http nores "$ADMIN" "$URL/v1/residents/$OTHER"
[ "$CODE" = 404 ] || fail "unknown resident: $CODE"
printf '{"number":"%s","reporter":"r1"}\n{"number":"call %s"}\nnot json %s\n' "$SENDER" "$OTHER" "$OTHER" >"$T/reports.in"
http reports "$CLIENT" --data-binary @"$T/reports.in" "$URL/v1/reports"
[ "$CODE" = 200 ] || fail "reports: $CODE"
{ printf '{"from":"%s","to":"%s","text":"%s"}\nbroken %s\n' "$SENDER" "$OTHER" "$POLICE" "$OTHER"; } >"$T/batch.in"
http batch "$CLIENT" --data-binary @"$T/batch.in" "$URL/v1/check/batch"
[ "$CODE" = 200 ] && [ "$(lines "$T/batch.body")" -eq 2 ] || fail "batch: $CODE"
# The gateway refuses (400, echoing the request with the number): the server's log must not quote it.
wait_for 20 sh -c "[ \"\$(curl -sf $RX_URL/_stats | jq -r .requests)\" -ge 2 ]" || fail "the server did not try to deliver"
sleep 1
http metrics "$CLIENT" "$URL/metrics"
[ "$CODE" = 200 ] || fail "metrics: $CODE"
cat "$T/metrics.body" >>"$T/public.log"
ok "serve bodies, log and metrics collected"

# --- the worker's log ---

case_ "privacy-worker"
if "$FANZHA" worker --help >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
    redis_start || exit 1
    { cat "$T/bad.jsonl"; printf '{"from":"%s","to":"%s","text":"%s"}\n' "$SENDER" "$OTHER" "$POLICE"; } >"$T/push.in"
    run push fz stream push --redis "$REDIS_URL" "$T/push.in"
    run worker fz worker --redis "$REDIS_URL" --drain --stats-interval 1 --state-dir "$T/state-worker"
    [ "$RC" -eq 0 ] || fail "worker --drain: exit $RC: $(tail -2 "$T/worker.err")"
    redis_stop
    ok "worker log collected"
else
    ok "no fanzha worker in this build: skipped"
fi

case_ "privacy"
cat "$T/serve.log" >>"$T/public.log"
# shellcheck disable=SC2086
leaked=$(numbers_in "$T/public.log" $NUMBERS)
[ -z "$leaked" ] || fail "numbers in clear: $leaked: $(grep -n "${leaked:0:3}" "$T/public.log" | head -3)"
grep -q -e "$CLIENT" -e "$ADMIN" "$T/public.log" && fail "a token in what fanzha printed"
[ "$(wc -l <"$T/public.log")" -gt 20 ] || fail "too little output to mean anything"
ok "no number in clear in error records, summaries, listings, serve log/bodies/metrics, worker log"

# --- 2. TLS verification cannot be switched off ------------------------------------------------------------

case_ "tls-source"
# Every CURLOPT_SSL_VERIFY* in the source sets verification on.
grep -rn --include='*.c' --include='*.h' -E 'CURLOPT_(PROXY_)?SSL_VERIFY(PEER|HOST|STATUS)' "$SRC/engine" "$SRC/tools" "$SRC/include" >"$T/verify.grep" || true
[ -s "$T/verify.grep" ] || fail "no CURLOPT_SSL_VERIFYPEER in the source: where is TLS verified?"
if grep -Ev 'SSL_VERIFYPEER, *1L?\)|SSL_VERIFYHOST, *2L?\)' "$T/verify.grep" | grep -q .; then
    fail "verification set to something else: $(grep -Ev 'SSL_VERIFYPEER, *1L?\)|SSL_VERIFYHOST, *2L?\)' "$T/verify.grep" | head -3)"
fi
if grep -rn --include='*.c' -E 'CURLSSLOPT_(ALLOW_BEAST|NO_REVOKE)|CURLOPT_SSL_VERIFY[A-Z]*, *0|verify *= *0|insecure' "$SRC/engine" "$SRC/tools/cli" >"$T/insecure.grep"; then
    fail "insecure TLS options in the source: $(head -3 "$T/insecure.grep")"
fi
ok "VERIFYPEER 1 and VERIFYHOST 2 only"

case_ "tls-config"
for key in "insecure: true" "verify_tls: false" "ssl_verify: false" "tls_verify: false" "skip_verify: true"; do
    printf 'gateway:\n  url: https://127.0.0.1:9/x\n  %s\n' "$key" >"$T/k.yaml"
    run key fz outbox deliver --config "$T/k.yaml"
    [ "$RC" -eq 2 ] && grep -q "unknown key '${key%%:*}'" "$T/key.err" || fail "'$key' was not refused: exit $RC: $(cat "$T/key.err")"
done
allowed=$(sed -n 's/.*(allowed: \(.*\))/\1/p' "$T/key.err")
[ -n "$allowed" ] || fail "the error does not list the allowed keys: $(cat "$T/key.err")"
if grep -Eiq 'insecure|verify|skip|ssl|tls' <<<"$allowed"; then fail "a key that sounds like switching TLS off: $allowed"; fi
printf 'insecure: true\n' >"$T/k2.yaml"
run key2 fz outbox deliver --config "$T/k2.yaml"
[ "$RC" -eq 2 ] || fail "top-level insecure: exit $RC"
ok "no key turns verification off (gateway keys: $allowed)"

case_ "tls-refused"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 || fail "openssl could not make a certificate"
RX1_URL=$RX_URL
rm -f "$T/receiver.port"
receiver_start --tls "$T/cert.pem" "$T/key.pem"
TLS_URL="https://127.0.0.1:$RX_PORT"
# The outbox of the serve case has warnings; deliver them through a self-signed gateway.
S=$T/state-tls
FANZHA_STATE_DIR=$S "$FANZHA" resident add "$RES" >/dev/null 2>&1
printf '{"from":"%s","to":"%s","text":"%s"}\n' "$SENDER" "$RES" "$POLICE" >"$T/tls.in"
FANZHA_STATE_DIR=$S "$FANZHA" scan --warn -o /dev/null "$T/tls.in" 2>/dev/null
printf 'gateway:\n  url: %s/v1/warnings\n  max_attempts: 3\n  backoff_base_ms: 10\n  timeout_ms: 3000\n' "$TLS_URL" >"$T/tls.yaml"
RC=0
FANZHA_STATE_DIR=$S "$FANZHA" outbox deliver --config "$T/tls.yaml" >"$T/tls1.out" 2>"$T/tls1.err" || RC=$?
tls_stats() { curl -sf --cacert "$T/cert.pem" "$TLS_URL/_stats"; }
[ "$(tls_stats | jq -r .requests)" = 0 ] || fail "a request reached a gateway with an unknown certificate"
grep -q '0 delivered' "$T/tls1.err" || fail "delivered through an unverified certificate: $(tail -1 "$T/tls1.err")"
grep -qi 'certificate\|SSL\|TLS' "$T/tls1.err" || fail "the failure does not say why: $(head -2 "$T/tls1.err")"
printf '  ca_file: %s\n' "$T/cert.pem" >>"$T/tls.yaml"
FANZHA_STATE_DIR=$S "$FANZHA" outbox replay >/dev/null 2>&1 || true
RC=0
FANZHA_STATE_DIR=$S "$FANZHA" outbox deliver --config "$T/tls.yaml" >"$T/tls2.out" 2>"$T/tls2.err" || RC=$?
[ "$(tls_stats | jq -r .accepted)" -ge 1 ] || fail "not delivered with the CA given: $(tail -2 "$T/tls2.err")"
RX_URL=$RX1_URL
ok "self-signed gateway refused ($(grep -m1 -io 'certificate[^;]*' "$T/tls1.err" | head -c 80)); delivered with ca_file"

# --- 3. tokens compared in constant time -------------------------------------------------------------------

case_ "tokens"
AUTH="$SRC/engine/serve_auth.c"
[ -f "$AUTH" ] || fail "no engine/serve_auth.c"
grep -q 'sodium_memcmp' "$AUTH" || fail "serve_auth.c does not use sodium_memcmp"
# No plain comparison of a token or its digest (strcmp of role names is fine).
if grep -nE '(^|[^_a-z])(str|mem|strn|strcase|strncase|bcmp)cmp *\([^)]*(token|digest|d\b|secret|bearer)' "$AUTH" "$SRC"/engine/serve*.c |
    grep -v 'prefix' >"$T/cmp.grep"; then
    fail "a token compared with a plain comparison: $(head -3 "$T/cmp.grep")"
fi
for tok in "" "x" "${CLIENT:0:16}" "${CLIENT}x" "${CLIENT%?}" "$(printf 'A%.0s' $(seq 1 600))" "$CLIENT$CLIENT"; do
    code=$(curl -s -o "$T/tok.body" -w '%{http_code}' -H "Authorization: Bearer $tok" -d '{"text":"x"}' "$URL/v1/check" || true)
    [ "$code" = 401 ] && jq -e .error "$T/tok.body" >/dev/null 2>&1 || fail "token '${tok:0:20}…' (${#tok} bytes): $code"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CLIENT" -d '{"text":"x"}' "$URL/v1/check" || true)
[ "$code" = 200 ] || fail "the right token: $code"
ok "sodium_memcmp on digests; 401 for empty, short, prefix, +1 byte, -1 byte, 600 bytes, doubled"

# --- 4. limits ---------------------------------------------------------------------------------------------

case_ "limits"
head -c 70000 /dev/zero | tr '\0' a >"$T/70k"
code=$(curl -s -o "$T/413.body" -w '%{http_code}' -H "Authorization: Bearer $CLIENT" --data-binary @"$T/70k" "$URL/v1/check" || true)
[ "$code" = 413 ] && jq -e .error "$T/413.body" >/dev/null || fail "70 kB to /v1/check: $code"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' a >"$T/2m"
code=$(curl -s -o "$T/413b.body" -w '%{http_code}' -H "Authorization: Bearer $CLIENT" --data-binary @"$T/2m" "$URL/v1/check/batch" || true)
[ "$code" = 413 ] && jq -e .error "$T/413b.body" >/dev/null || fail "2 MB to /v1/check/batch (limit 1 MiB): $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CLIENT" -d '{"text":"still here"}' "$URL/v1/check" || true)
[ "$code" = 200 ] || fail "the server after the 413s: $code"
# scan: --max-record (default 1 MiB), and the line after a long one is read.
{ printf '{"id":1,"text":"'; head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' a; printf '"}\n{"id":2,"text":"ok"}\n'; } >"$T/long.jsonl"
run long fz scan --state none -o "$T/long.verdicts" "$T/long.jsonl"
grep -q '^{"line":1,"error":"record too long: more than 1048576 bytes' "$T/long.err" && [ "$(lines "$T/long.verdicts")" -eq 1 ] ||
    fail "a record over 1 MiB: $(head -c 200 "$T/long.err")"
# Rule packs: a file over 4 MiB; a regex too large.
cp -r "$SRC/rules" "$T/rules-big"
head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' '#' >>"$T/rules-big/zh/prize.yaml"
run rules-big fz rules check "$T/rules-big"
[ "$RC" -eq 1 ] && grep -q 'prize.yaml: file is [0-9]* bytes; rule files are limited to 4194304' "$T/rules-big.err" "$T/rules-big.out" ||
    fail "a 5 MiB rule file: exit $RC: $(grep -v warning "$T/rules-big.err" | head -3)"
cp -r "$SRC/rules" "$T/rules-rx"
printf "  - id: zh.prize.zz_big\n    pattern: '(a|b){1,5000}c'\n    score: 1\n" >>"$T/rules-rx/zh/prize.yaml"
run rules-rx fz rules check "$T/rules-rx"
[ "$RC" -eq 1 ] && grep -q "prize.yaml:[0-9]*:[0-9]*: rule 'zh.prize.zz_big': invalid pattern: .*too large" "$T/rules-rx.err" "$T/rules-rx.out" ||
    fail "(a|b){1,5000}c: exit $RC: $(grep -v warning "$T/rules-rx.err" | head -3)"
ok "413 for bodies (check, batch), record too long, rule file over 4 MiB, regex too large"

case_ "regex-complexity"
cp -r "$SRC/rules" "$T/rules-slow"
printf "  - id: zh.prize.zz_slow\n    pattern: '(a.{0,500}){40}b'\n    score: 1\n" >>"$T/rules-slow/zh/prize.yaml"
run rules-slow fz rules check "$T/rules-slow"
[ "$RC" -eq 1 ] && grep -Eq "prize.yaml:[0-9]+:[0-9]+: rule 'zh.prize.zz_slow': pattern too large" "$T/rules-slow.err" ||
    fail "(a.{0,500}){40}b not refused (exit $RC): $(grep zz_slow "$T/rules-slow.err" | head -2)"
ok "a pattern that makes Hyperscan blow up is refused at check time, with its position"

[ "$FAILS" -eq 0 ] || { echo "test_security.sh: $FAILS failure(s)" >&2; exit 1; }
echo "test_security.sh: all passed"
