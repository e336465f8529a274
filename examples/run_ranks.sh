#!/usr/bin/env bash
# Runs an example as N local processes through the SAM_* launcher variables.
# Usage: run_ranks.sh N PROGRAM
set -uo pipefail
n=$1; prog=$2
# A port below the ephemeral range (32768+). Another program may hold it:
# then rank 0 cannot listen, and the run is tried again on another port.
for attempt in 1 2 3; do
  port=$(( 20000 + (RANDOM % 12000) ))
  log=$(mktemp)
  pids=()
  for ((r = 0; r < n; r++)); do
    SAM_RANK=$r SAM_NRANKS=$n SAM_ROOT_ADDR=127.0.0.1:$port SAM_SOCKET_IFNAME=lo SAM_TIMEOUT_MS=20000 \
      "$prog" >>"$log" 2>&1 &
    pids+=($!)
  done
  rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  cat "$log"
  if [ $rc -eq 0 ] || ! grep -q "Address already in use" "$log"; then rm -f "$log"; exit $rc; fi
  rm -f "$log"
  echo "run_ranks.sh: port $port was taken, trying another" >&2
done
exit 1
