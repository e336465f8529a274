#!/usr/bin/env bash
# Routing benchmark on one GPU: PyTorch eager first, then route_bench with its
# timings, so one table holds SAM, the HBM floor and PyTorch from the same run.
#   perf/run_route_bench.sh [BUILD_DIR] [OUT_DIR]
# Two builds measured in one call: perf/route_compare.py new=A.txt base=B.txt
# prints their side-by-side table for perf/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
out="${2:-.}"
mkdir -p "$out"
python3 "$here/route_torch.py" | tee "$out/route_torch.txt"
"$build/perf/route_bench" --torch "$out/route_torch.txt" | tee "$out/route_bench.txt"
