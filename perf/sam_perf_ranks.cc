#include "sam_perf_ranks.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "comm/comm.h"

namespace samperf {

void check(samResult_t r, const char* what) {
  if (r != samSuccess)
    throw std::runtime_error(std::string(what) + " failed: " + samGetErrorString(r) + ": " +
                             samGetLastError());
}

bool launchedAsRank() {
  return std::getenv("SAM_RANK") || std::getenv("RANK") || std::getenv("OMPI_COMM_WORLD_RANK");
}

Ranks::Ranks(int timeoutMs) {
  samConfig_t config = SAM_CONFIG_INITIALIZER;
  if (timeoutMs > 0) config.timeoutMs = timeoutMs;
  check(samCommInitFromEnv(&comm_, &config), "samCommInitFromEnv");
  check(samCommRank(comm_, &rank_), "samCommRank");
  check(samCommSize(comm_, &size_), "samCommSize");
  check(samCommNodeCount(comm_, &nodes_), "samCommNodeCount");
  rankNodes_.resize(size_);
  check(samCommRankNodes(comm_, rankNodes_.data()), "samCommRankNodes");
}

Ranks::~Ranks() { samCommDestroy(comm_); }

void Ranks::barrier() { check(samCommBarrier(comm_), "samCommBarrier"); }

std::vector<std::string> Ranks::allgather(const std::string& mine) {
  std::vector<std::string> all;
  if (!comm_->bootstrap) throw std::runtime_error("communicator has no bootstrap");
  check(comm_->bootstrap->allgather(mine, &all), "bootstrap allgather");
  if (static_cast<int>(all.size()) != size_) throw std::runtime_error("bootstrap allgather: wrong size");
  return all;
}

double Ranks::maxOverRanks(double v) {
  double m = v;
  for (const std::string& s : allgather(std::string(reinterpret_cast<const char*>(&v), sizeof v))) {
    double o;
    std::memcpy(&o, s.data(), sizeof o);
    if (o > m) m = o;
  }
  return m;
}

int64_t Ranks::sumOverRanks(int64_t v) {
  int64_t sum = 0;
  for (const std::string& s : allgather(std::string(reinterpret_cast<const char*>(&v), sizeof v))) {
    int64_t o;
    std::memcpy(&o, s.data(), sizeof o);
    sum += o;
  }
  return sum;
}

std::vector<std::string> Ranks::describeRanks() {
  int localRank = 0;
  check(samCommLocalRank(comm_, &localRank), "samCommLocalRank");
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const char* hostId = std::getenv("SAM_HOST_ID");
  char line[512];
  std::snprintf(line, sizeof line, "Rank %2d Pid %7d on %s%s%s node %d local rank %d", rank_,
                static_cast<int>(::getpid()), host, hostId ? " as " : "", hostId ? hostId : "", rankNodes_[rank_],
                localRank);
  return allgather(line);
}

std::vector<double> Ranks::sumOverRanks(const std::vector<double>& v) {
  std::vector<double> sum(v.size(), 0.0);
  std::string mine(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
  for (const std::string& s : allgather(mine)) {
    if (s.size() != mine.size()) throw std::runtime_error("ranks disagree on the result layout");
    for (size_t i = 0; i < v.size(); ++i) {
      double o;
      std::memcpy(&o, s.data() + i * sizeof o, sizeof o);
      sum[i] += o;
    }
  }
  return sum;
}

}  // namespace samperf
