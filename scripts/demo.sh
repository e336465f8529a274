#!/usr/bin/env bash
# Fresh machine to demo: installs the packages, builds, and shows what libsam does.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
B=${BUILD_DIR:-build}
if [ -x "$B/topology/sam-topo" ]; then
  echo "== sam-topo: this machine"
  "$B/topology/sam-topo"
  echo "== sam-topo -i tests/data/power8-4gpu-nvlink.xml (a saved 4-GPU NVLink machine)"
  "$B/topology/sam-topo" -i tests/data/power8-4gpu-nvlink.xml
fi
if [ -x "$B/perf/sam-perf" ]; then
  echo "== sam-perf: 4 ranks on two fake nodes, SAM against the top-k all-to-all baseline"
  "$B/perf/sam-perf" --demo
fi
