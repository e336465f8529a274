#include "transport/self/self_transport.h"

#include <cstring>

#include "core/error.h"
#include "transport/row_exchange.h"

namespace sam {
namespace {

class SelfTransport : public Transport, public RowTransport {
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
  // Each row goes from its source row straight to its destination rows.
  samResult_t postRows(const RowExchangeSpec& spec, const std::vector<int>& peers, uint64_t seq,
                       TrafficTable& traffic) override {
    for (int p : peers) {
      if (p != rank_) return failf(samInternalError, "self transport asked to reach rank %d from rank %d", p, rank_);
      const int64_t n = spec.sendOffset[p + 1] - spec.sendOffset[p];
      if (n != spec.recvOffset[p + 1] - spec.recvOffset[p])
        return failf(samInternalError, "self row exchange: sending %lld rows but expecting %lld",
                     static_cast<long long>(n), static_cast<long long>(spec.recvOffset[p + 1] - spec.recvOffset[p]));
      if (n == 0) continue;
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* src = spec.sendVector(spec.sendOffset[p] + i);
        spec.forEachDest(spec.recvOffset[p] + i, [&](uint8_t* row) { memcpy(row, src, spec.rowBytes); });
      }
      traffic.countSend(p, samTransportSelf, n * spec.rowBytes);
      traffic.countRecv(p, samTransportSelf, n * spec.rowBytes);
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
