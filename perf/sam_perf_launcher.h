// `sam-perf --ranks N`: starts N copies of this program on this machine, one
// per rank, each told its place through the SAM_* variables that
// samCommInitFromEnv reads (SAM_RANK, SAM_NRANKS, SAM_ROOT_ADDR, SAM_SECRET),
// and with --nodes M a fake host identity per group of ranks (SAM_HOST_ID) so
// that ranks on different "nodes" talk through the network transport.
#pragma once

namespace samperf {

struct LaunchSpec {
  int nranks = 1;
  int nodes = 1;
  int timeoutMs = 0;  // passed as SAM_TIMEOUT_MS when > 0
};

// Runs the ranks to completion. Returns 0 when every rank exited 0; else the
// exit status of the first rank that failed (ranks still running after a
// grace period are killed, so a failure never hangs the launcher).
int launchLocalRanks(char** argv, const LaunchSpec& spec);

// The fake node of `rank` when nranks ranks are split evenly into `nodes`.
int fakeNodeOf(int rank, int nranks, int nodes);

}  // namespace samperf
