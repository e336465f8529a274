#!/usr/bin/env bash
# Builds (if needed) and runs every test. GPU tests skip where there is no GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j"${JOBS:-2}" "$@"
