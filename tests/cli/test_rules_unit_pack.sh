#!/bin/bash
# The unit-test rule pack checks and its examples pass.
set -eu
"$FANZHA" rules check "$SRC/tests/data/rules-unit" >/dev/null
"$FANZHA" rules test "$SRC/tests/data/rules-unit"
