// The communicator behind samComm_t: who the ranks are, where they live, and
// the per-communicator state of the data path. Built by lib/comm (init), read
// by the plan and the transports.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "sam.h"
#include "transport/traffic.h"

namespace sam {

// The resolved config: every field has its final value (config, env, default).
struct CommConfig {
  samBackend_t backend = samBackendHost;
  int cudaDevice = -1;
  int timeoutMs = 30000;
};

// The same picture of the cluster on every rank, from the exchange at init.
struct ClusterView {
  std::vector<std::string> hostIds;   // [nranks]: SAM_HOST_ID or hostname+boot id
  std::vector<int> rankNode;          // [nranks]: node index; nodes numbered by their lowest rank
  std::vector<int> localRank;         // [nranks]: index among the ranks of its node
  std::vector<std::vector<int>> nodeRanks;  // [nodes]: the ranks of each node, ascending
  std::vector<std::string> gpuBusId;  // [nranks]: PCI bus id of the rank's GPU, "" if none
  std::vector<samLinkClass_t> links;  // [nranks * nranks]: link class between two ranks

  int nodeCount() const { return static_cast<int>(nodeRanks.size()); }
  samLinkClass_t link(int a, int b) const { return links[static_cast<size_t>(a) * rankNode.size() + b]; }
  bool sameNode(int a, int b) const { return rankNode[a] == rankNode[b]; }
};

// Per-communicator state of a data-path backend (shared-memory windows, UCX
// workers, CUDA IPC mappings), created on first use by the plan layer.
class CommBackend {
 public:
  virtual ~CommBackend() = default;
};

}  // namespace sam

struct samComm {
  int rank = -1;
  int nranks = 0;
  sam::CommConfig config;
  std::unique_ptr<sam::Bootstrap> bootstrap;
  sam::ClusterView cluster;
  // First failure found asynchronously (samCommGetAsyncError), and abort.
  std::atomic<int> asyncError{samSuccess};
  std::atomic<bool> aborted{false};
  // Cumulative traffic of this rank, per peer and transport (samCommGetTraffic).
  sam::TrafficTable traffic;
  std::unique_ptr<sam::CommBackend> backend;
};

namespace sam {

// Records the first asynchronous failure of a communicator (what
// samCommGetAsyncError reports) and returns `result` unchanged, so layers
// that use comm->bootstrap write `return noteAsyncError(comm, r);`.
inline samResult_t noteAsyncError(samComm* comm, samResult_t result) {
  if (result != samSuccess && result != samInvalidArgument) {
    int expected = samSuccess;
    comm->asyncError.compare_exchange_strong(expected, result);
  }
  return result;
}

}  // namespace sam
