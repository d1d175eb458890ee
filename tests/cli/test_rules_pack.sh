#!/bin/bash
# The shipped rule pack compiles without errors, and every rule's examples
# (match and no_match) pass through the whole engine.
set -euo pipefail
out=$("$FANZHA" rules check "$SRC/rules" 2>&1) || { echo "$out"; echo "rules check failed" >&2; exit 1; }
echo "$out" | tail -1
if echo "$out" | grep -q "warning: .*slow path"; then
    echo "$out" | grep "warning: .*slow path"
    echo "a shipped rule runs on the slow path" >&2
    exit 1
fi
"$FANZHA" rules test "$SRC/rules"
