// This process's place among the ranks of one sam-perf run: the communicator
// (from SAM_*, torchrun or Open MPI variables) and the few collectives the
// tool needs to agree on results. libsam has no public allgather, so this
// internal tool uses the communicator's bootstrap (sam_static).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sam.h"

namespace samperf {

class Ranks {
 public:
  // samCommInitFromEnv; throws std::runtime_error with the library's text.
  explicit Ranks(int timeoutMs);
  ~Ranks();
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;

  samComm_t comm() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  int nodes() const { return nodes_; }
  const std::vector<int>& rankNodes() const { return rankNodes_; }

  void barrier();
  double maxOverRanks(double v);
  int64_t sumOverRanks(int64_t v);
  // Element-wise sums of equally long vectors.
  std::vector<double> sumOverRanks(const std::vector<double>& v);
  // One line per rank for the header: pid, host identity, node, local rank.
  std::vector<std::string> describeRanks();

 private:
  std::vector<std::string> allgather(const std::string& mine);
  samComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1, nodes_ = 1;
  std::vector<int> rankNodes_;
};

// Throws std::runtime_error naming `what`, the result and the last error.
void check(samResult_t r, const char* what);

// True when a launcher (torchrun, mpirun, or a sam-perf parent) set our rank.
bool launchedAsRank();

}  // namespace samperf
