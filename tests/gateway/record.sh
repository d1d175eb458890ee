#!/bin/sh
# record.sh — the command of the "record" hook of webhook-hooks.json.in: a
# well-behaved gateway that keeps what it received (tests/unit/httputil.c
# runs webhook with it).
#
#   record.sh FILE IDEMPOTENCY_KEY RAW_BODY HEADERS_JSON
#
# appends one line to FILE: the key, a tab, the body in base64, a tab, the
# request headers (a JSON object, as webhook gives them) in base64. Base64
# keeps quotes, newlines and tabs of a body on one line, byte for byte.
# Requests run concurrently: the line is written under a lock. webhook
# answers 200 only after the command ends, so a delivered request is
# recorded.
set -eu
file=$1
line=$(printf '%s\t%s\t%s' "$2" "$(printf '%s' "$3" | base64 -w0)" "$(printf '%s' "$4" | base64 -w0)")
exec 9>>"$file.lock"
flock 9
printf '%s\n' "$line" >>"$file"
