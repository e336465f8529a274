// A communicator made by hand over the fork harness's bootstrap, so the data
// path can be tested with real processes independently of lib/comm's init.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../transport/fork_harness.h"
#include "comm/comm.h"

namespace samtest {

// Forwards to a bootstrap owned elsewhere (the harness's, on the stack).
class BootstrapRef : public sam::Bootstrap {
 public:
  explicit BootstrapRef(sam::Bootstrap& b) : b_(b) {}
  int rank() const override { return b_.rank(); }
  int size() const override { return b_.size(); }
  samResult_t allgather(const std::string& m, std::vector<std::string>* a) override { return b_.allgather(m, a); }
  samResult_t broadcast(int root, std::string* blob) override { return b_.broadcast(root, blob); }
  samResult_t barrier() override { return b_.barrier(); }
  void abort() override { b_.abort(); }

 private:
  sam::Bootstrap& b_;
};

inline std::unique_ptr<samComm> makeForkComm(sam::Bootstrap& bs, const std::vector<int>& rankNode, int timeoutMs) {
  auto c = std::make_unique<samComm>();
  c->rank = bs.rank();
  c->nranks = bs.size();
  c->config.timeoutMs = timeoutMs;
  c->bootstrap = std::make_unique<BootstrapRef>(bs);
  sam::ClusterView& v = c->cluster;
  v.rankNode = rankNode;
  int nodes = 0;
  for (int n : rankNode) nodes = std::max(nodes, n + 1);
  v.nodeRanks.assign(nodes, {});
  for (int r = 0; r < c->nranks; ++r) {
    v.localRank.push_back(static_cast<int>(v.nodeRanks[rankNode[r]].size()));
    v.nodeRanks[rankNode[r]].push_back(r);
    v.hostIds.push_back("node" + std::to_string(rankNode[r]));
    v.gpuBusId.push_back("");
  }
  for (int a = 0; a < c->nranks; ++a)
    for (int b = 0; b < c->nranks; ++b)
      v.links.push_back(a == b ? samLinkSelf : rankNode[a] == rankNode[b] ? samLinkSys : samLinkNet);
  c->traffic.resize(c->nranks);
  return c;
}

}  // namespace samtest
