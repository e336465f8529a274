#!/usr/bin/env bash
# Re-runs the host-backend benchmark recorded in perf/RESULTS.md (data-path
# section) and prints the raw output with the date, machine and commit, so the
# numbers can be refreshed after a merge:
#   perf/bench_host.sh [build dir] > /tmp/bench.txt
# 1) bandwidth of dispatch and combine against a memcpy of the same bytes,
#    4 ranks, one and two fake nodes; 2) SAM against the top-k all-to-all
#    baseline for k = 2, 4, 8, one and two fake nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
P="$B/perf/sam-perf"
[ -x "$P" ] || { echo "no $P: build the sam-perf target first" >&2; exit 1; }
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit: $(git rev-parse --short HEAD)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for nodes in 1 2; do
  cmd="$P --ranks 4 --nodes $nodes -b 1K -e 16K -f 4 --topk 2 --op dispatch,combine --memcpy -n 10 -w 2 -c 1"
  echo "\$ ${cmd#$B/}"
  $cmd
done
for nodes in 1 2; do
  cmd="$P --ranks 4 --nodes $nodes -b 4K -e 4K --topk 2,4,8 --op plan,dispatch,combine,roundtrip --baseline -n 5 -w 1 -c 1"
  echo "\$ ${cmd#$B/}"
  $cmd
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
