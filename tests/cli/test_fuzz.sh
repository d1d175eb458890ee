#!/bin/bash
# test_fuzz.sh — the bounded form of fuzzing: every libFuzzer target in
# tests/fuzz/ (built with clang, ASan and UBSan into build-fuzz/ by
# tools/fuzz) runs for 8 seconds from its seed corpus alone, with fixed
# mutations (--seed 1), so that the suite gives the same answer each time;
# tools/fuzz without --seed explores (and what it finds becomes a seed). Fails when any
# target crashes, leaks, hangs or trips a check; tools/fuzz prints the saved
# input (build-fuzz/crashes/) and the stack. `tools/fuzz` without --time runs
# each target for 10 minutes.
#
# Needs: SRC (the source tree), clang and libclang-rt-14-dev
# (tools/setup --test-deps installs them).
set -euo pipefail
: "${SRC:?set SRC to the source tree}"
"$SRC/tools/fuzz" --fresh --seed 1 --time 8
