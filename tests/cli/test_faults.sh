#!/bin/bash
# test_faults.sh — the fault-injection suite (tests/faults/run.sh) in its
# bounded form: Redis killed mid-stream, the gateway down and hanging, a
# worker killed mid-batch, rules reloaded under load, broken packs pushed to
# a running server, hostile input; prints the fault table and fails when a
# message or a warning is lost (see tests/faults/run.sh).
#
# Needs: FANZHA (the binary), SRC (the source tree), and what run.sh needs:
# redis-server, redis-cli, curl, jq, python3. FANZHA_CACHE is used when set.
set -euo pipefail

: "${FANZHA:?set FANZHA to the fanzha binary}"
: "${SRC:?set SRC to the source tree}"
export FANZHA SRC
exec bash "$SRC/tests/faults/run.sh" --bounded
