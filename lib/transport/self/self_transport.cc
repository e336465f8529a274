#include "transport/self/self_transport.h"

#include <cstring>

#include "core/error.h"

namespace sam {
namespace {

class SelfTransport : public Transport {
 public:
  explicit SelfTransport(int rank) : rank_(rank) {}
  samTransport_t kind() const override { return samTransportSelf; }
  samResult_t post(const ExchangeSpec& spec, const std::vector<int>& peers, uint64_t seq,
                   TrafficTable& traffic) override {
    for (int p : peers) {
      if (p != rank_) return failf(samInternalError, "self transport asked to reach rank %d from rank %d", p, rank_);
      if (spec.sendBytes[p] != spec.recvBytes[p])
        return failf(samInternalError, "self exchange: sending %zu bytes but expecting %zu", spec.sendBytes[p],
                     spec.recvBytes[p]);
      if (spec.sendBytes[p] == 0) continue;
      memcpy(spec.recv + spec.recvOffsets[p], spec.send + spec.sendOffsets[p], spec.sendBytes[p]);
      traffic.countSend(p, samTransportSelf, spec.sendBytes[p]);
      traffic.countRecv(p, samTransportSelf, spec.recvBytes[p]);
    }
    return samSuccess;
  }
  samResult_t wait(const Deadline&) override { return samSuccess; }

 private:
  int rank_;
};

}  // namespace

std::unique_ptr<Transport> createSelfTransport(int rank) { return std::make_unique<SelfTransport>(rank); }

}  // namespace sam
