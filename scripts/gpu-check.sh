#!/usr/bin/env bash
# On a GPU machine: build with CUDA, show and save the topology, run every test
# (GPU tests included) and the routing benchmark. Logs go to $OUT (default ./gpu-out).
#   scripts/gpu-check.sh [--no-bench]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0
B=build-gpu
{
  echo "== $(date -u) $(git rev-parse --short HEAD 2>/dev/null)"
  nvidia-smi --query-gpu=index,name,pci.bus_id,driver_version --format=csv
  nvidia-smi topo -m
} 2>&1 | tee "$OUT/machine.txt"
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >"$OUT/build.txt" 2>&1 &&
  cmake --build $B -j"$(nproc)" >>"$OUT/build.txt" 2>&1 || { tail -50 "$OUT/build.txt"; exit 1; }
grep -E "libsam .*CUDA=" "$OUT/build.txt"
{
  echo "== sam-topo"; $B/topology/sam-topo
  echo "== sam-topo --json"; $B/topology/sam-topo --json
} 2>&1 | tee "$OUT/topo.txt"
$B/topology/sam-topo --of xml "$OUT/h200x2.xml"
(cd $B && ctest --output-on-failure -j8 --timeout 300) > "$OUT/ctest.txt" 2>&1
grep -E "tests passed|Failed|\*\*\*Fail|Not Run|Timeout" "$OUT/ctest.txt" | tail -20
(cd $B && ctest -R "Gpu|H200" -V) 2>&1 | grep -E "^\S*[0-9]+: \[ +(OK|FAILED|SKIPPED) +\]|tests passed" > "$OUT/gpu-tests.txt"
tail -40 "$OUT/gpu-tests.txt"
if [ "${1:-}" != "--no-bench" ]; then
  perf/run_route_bench.sh "$B" "$OUT" > "$OUT/route-bench.txt" 2>&1
  tail -30 "$OUT/route-bench.txt"
fi
