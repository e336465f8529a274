#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build dir and runs each
# for a bounded time. Usage: scripts/fuzz.sh [seconds per target, default 20]
# Env: FUZZ_BUILD_DIR (default build-fuzz), JOBS (default 2), FUZZ_SEED (default: random).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-20}"
BUILD="${FUZZ_BUILD_DIR:-build-fuzz}"
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DSAM_BUILD_FUZZERS=ON -DSAM_BUILD_TESTS=OFF \
  -DSAM_WITH_CUDA=OFF -DSAM_WITH_NCCL=OFF -DSAM_WITH_UCX=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" --target fuzz_bootstrap_message
for target in fuzz_bootstrap_message; do
  corpus="$BUILD/corpus/$target"
  mkdir -p "$corpus"
  echo "== $target for ${SECONDS_PER_TARGET}s"
  # Seeds first (checked-in examples of every message), then new finds in $corpus.
  # FUZZ_SEED fixes libFuzzer's random sequence (CI sets it so a run can be
  # reproduced); unset, each run explores from a new seed.
  "$BUILD/fuzz/$target" ${FUZZ_SEED:+-seed=$FUZZ_SEED} -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$BUILD/" "$corpus" fuzz/corpus/"$target"
done
