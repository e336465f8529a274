#!/usr/bin/env bash
# Runs an example as N local processes through the SAM_* launcher variables.
# Usage: run_ranks.sh N PROGRAM
set -euo pipefail
n=$1; prog=$2
port=$(( 20000 + (RANDOM % 20000) ))
pids=()
for ((r = 0; r < n; r++)); do
  SAM_RANK=$r SAM_NRANKS=$n SAM_ROOT_ADDR=127.0.0.1:$port SAM_SOCKET_IFNAME=lo SAM_TIMEOUT_MS=20000 "$prog" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
