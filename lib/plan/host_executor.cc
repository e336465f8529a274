#include "plan/host_executor.h"

#include <algorithm>

#include "comm/comm.h"
#include "core/error.h"
#include "transport/exchange.h"
#include "transport/exchange_label.h"
#include "transport/row_exchange.h"

namespace sam {
namespace {

// Byte offsets and sizes per rank from vector counts/offsets.
struct Blocks {
  std::vector<size_t> offsets, bytes;
  Blocks(const std::vector<int64_t>& count, const std::vector<int64_t>& offset, size_t unit) {
    for (size_t r = 0; r < count.size(); ++r) {
      offsets.push_back(static_cast<size_t>(offset[r]) * unit);
      bytes.push_back(static_cast<size_t>(count[r]) * unit);
    }
  }
};

samResult_t exchangeBlocks(samComm* comm, const void* send, const Blocks& out, void* recv,
                           const Blocks& in, TrafficTable* planTraffic) {
  ExchangeSpec spec;
  spec.send = static_cast<const uint8_t*>(send);
  spec.sendOffsets = out.offsets.data();
  spec.sendBytes = out.bytes.data();
  spec.recv = static_cast<uint8_t*>(recv);
  spec.recvOffsets = in.offsets.data();
  spec.recvBytes = in.bytes.data();
  return exchange(comm, spec, planTraffic);
}

// Destinations this large (expertIn, y) are written with non-temporal stores
// (row_copy.h): they outgrow the caches anyway, and skipping the read for
// ownership made dispatch and combine 10-15 % faster on one rank (T = 8192,
// H = 2048 fp32). Smaller ones stay in cache for the caller's next step.
constexpr int64_t kStreamBytes = int64_t{16} << 20;
bool streamInto(int64_t destinationBytes) { return destinationBytes >= kStreamBytes; }

}  // namespace

HostExecutor::HostExecutor(samComm* comm, const PlanLayout& layout, RowFormat format, int64_t paddedRows,
                           TrafficTable* planTraffic)
    : comm_(comm), layout_(layout), format_(format), paddedRows_(paddedRows), planTraffic_(planTraffic) {}

samResult_t HostExecutor::backward(const void* send, void* recv, size_t unit) {
  const SendLayout& s = layout_.send;
  const RecvLayout& r = layout_.recv;
  return exchangeBlocks(comm_, send, Blocks(r.count, r.offset, unit), recv, Blocks(s.count, s.offset, unit),
                        planTraffic_);
}

samResult_t HostExecutor::dispatch(const void* x, void* expertIn) {
  ExchangeLabel label("dispatch");
  // Rows go from x straight to their expert rows: the shared-memory and self
  // paths gather and scatter them without staging copies.
  RowExchangeSpec rs;
  rs.rowBytes = format_.bytes();
  rs.send = static_cast<const uint8_t*>(x);
  rs.sendOffset = layout_.send.offset.data();
  rs.sendRow = layout_.send.token.data();
  rs.recv = static_cast<uint8_t*>(expertIn);
  rs.recvOffset = layout_.recv.offset.data();
  rs.recvDest = layout_.recv.slotRow.data();
  rs.fanout = layout_.placement.topk;
  rs.streamDest = streamInto(layout_.recv.rows() * rs.rowBytes);
  SAM_CHECK(exchangeRows(comm_, rs, planTraffic_));
  const int64_t rows = layout_.recv.rows();
  if (paddedRows_ > rows)
    std::fill(static_cast<uint8_t*>(expertIn) + rows * rs.rowBytes,
              static_cast<uint8_t*>(expertIn) + paddedRows_ * rs.rowBytes, uint8_t{0});
  return samSuccess;
}

samResult_t HostExecutor::combineWith(const void* rows, void* y, bool unitWeights) {
  const size_t rb = format_.bytes();
  const SendLayout& s = layout_.send;
  const RecvLayout& r = layout_.recv;
  const int k = layout_.placement.topk;
  // Only the vectors of tokens served by several ranks need a buffer: they
  // are summed afterwards in ascending rank order (deterministic whatever
  // order the peers' chunks arrive in). For SAM there are none.
  recvBuf_.resize(static_cast<size_t>(s.spillCount) * rb);
  scratch_.resize(format_.hidden);
  // Out: each recv vector's weighted sum of its expert rows is computed
  // straight into the ring chunk (or the packed block of a UCX peer).
  // Back home: a token's only vector lands in its row of y.
  RowExchangeSpec rs;
  rs.rowBytes = rb;
  rs.sendOffset = r.offset.data();
  rs.produce = [&](int64_t v, uint8_t* dst) {
    reduceVector(r, k, format_, rows, unitWeights, v, dst, scratch_.data());
  };
  rs.recv = static_cast<uint8_t*>(y);
  rs.recvOffset = s.offset.data();
  rs.recvDest = s.soleToken.data();
  rs.fanout = 1;
  rs.streamDest = streamInto(layout_.numTokens * rb);
  rs.recvSpill = recvBuf_.data();
  rs.recvSpillRow = s.spillRow.data();
  SAM_CHECK(exchangeRows(comm_, rs, planTraffic_));
  finishTokenSums(s, layout_.numTokens, format_, recvBuf_.data(), y);
  return samSuccess;
}

samResult_t HostExecutor::combine(const void* expertOut, void* y) {
  ExchangeLabel label("combine");
  return combineWith(expertOut, y, false);
}

samResult_t HostExecutor::dispatchBackward(const void* gradExpertIn, void* gradX) {
  ExchangeLabel label("dispatch backward");
  return combineWith(gradExpertIn, gradX, true);
}

samResult_t HostExecutor::combineBackward(const void* gradY, const void* expertOut, void* gradExpertOut,
                                          float* gradWeights) {
  ExchangeLabel label("combine backward");
  const size_t rb = format_.bytes();
  const int k = layout_.placement.topk;
  const RecvLayout& r = layout_.recv;
  scratch_.resize(format_.hidden);
  // gradY rows go out like dispatch (gathered from gradY by token); on the
  // expert's rank each arriving vector is scaled into its expert rows and
  // dotted with their outputs straight from the ring: no staging buffers.
  std::vector<float> dots(r.total() * k), back(layout_.send.total() * k);
  RowExchangeSpec rs;
  rs.rowBytes = rb;
  rs.send = static_cast<const uint8_t*>(gradY);
  rs.sendOffset = layout_.send.offset.data();
  rs.sendRow = layout_.send.token.data();
  rs.recvOffset = r.offset.data();
  rs.consume = [&](int64_t v, const uint8_t* g) {
    slotGradients(r, k, format_, v, g, expertOut, gradExpertOut, dots.data(), scratch_.data());
  };
  SAM_CHECK(exchangeRows(comm_, rs, planTraffic_));
  if (paddedRows_ > r.rows())
    std::fill(static_cast<uint8_t*>(gradExpertOut) + r.rows() * rb,
              static_cast<uint8_t*>(gradExpertOut) + paddedRows_ * rb, uint8_t{0});
  // The weight gradients are computed where the expert outputs live and go
  // back as k floats per vector. Every rank takes part in this exchange even
  // when its own gradWeights is NULL: a peer may want its gradients.
  SAM_CHECK(backward(dots.data(), back.data(), k * sizeof(float)));
  if (gradWeights != nullptr) scatterSlots(layout_.send, layout_.numTokens, k, back.data(), gradWeights);
  return samSuccess;
}

void HostExecutor::abandon(DataPathOp op, const std::string& why) {
  // Dispatch and combine backward start by sending tokens out (send counts);
  // combine and dispatch backward by sending vectors back (recv counts).
  const bool out = op == DataPathOp::dispatch || op == DataPathOp::combineBackward;
  const std::vector<int64_t>& count = out ? layout_.send.count : layout_.recv.count;
  std::vector<size_t> bytes(count.size());
  for (size_t p = 0; p < count.size(); ++p) bytes[p] = static_cast<size_t>(count[p]) * format_.bytes();
  abandonExchange(comm_, bytes, why);
}

}  // namespace sam
