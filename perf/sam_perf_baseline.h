// The baseline: what MoE frameworks run today (Megatron-LM's all-to-all token
// dispatcher, Tutel): every (token, expert) pair is its own row. Permute the
// pairs by destination rank and expert, exchange counts, all-to-all with those
// counts, regroup the received chunks by local expert; back the same way, then
// unpermute and take the weighted sum at the source. It takes the same routes
// as the SAM run (the same experts per token), so the difference measured is
// only in how the tokens travel: k pair rows per token instead of one vector
// per (token, rank).
#pragma once

#include <cstdint>
#include <vector>

#include "sam_perf_impl.h"

struct samComm;

namespace samperf {

class BaselineImpl : public MoeImpl {
 public:
  BaselineImpl(samComm_t comm, const Layer& layer, int rank);
  const char* name() const override { return "base"; }
  // Counts pairs per (rank, local expert), places each pair in the send
  // buffer, and exchanges the counts (the first all-to-all).
  void plan(int64_t numTokens, const int32_t* expertIdx, const float* weights) override;
  // Permute, all-to-all of the pair rows, regroup by local expert.
  void dispatch(const void* x, void* expertIn) override;
  // Regroup by source rank, all-to-all back, unpermute + weighted sum.
  void combine(const void* expertOut, void* y) override;
  int64_t expertRows() const override { return expertOffsets_.back(); }
  const std::vector<int64_t>& expertOffsets() const override { return expertOffsets_; }
  int64_t sendVectors() const override { return sendRows_; }

 private:
  void exchangeRows(const uint8_t* send, const std::vector<int64_t>& sendRowOffsets,
                    uint8_t* recv, const std::vector<int64_t>& recvRowOffsets);
  // Copies the (source rank, local expert) chunks from rank order into
  // expert order (toExperts) or back.
  void regroup(const uint8_t* from, uint8_t* to, bool toExperts);

  samComm* comm_;
  Layer layer_;
  int rank_;
  int64_t numTokens_ = 0;
  const int32_t* expertIdx_ = nullptr;
  const float* weights_ = nullptr;
  std::vector<int64_t> pairRow_;          // [T * k]: row of the pair in sendBuf_, -1 if dropped
  std::vector<int64_t> sendRowOffsets_;   // [R * L + 1], chunks ordered (dest rank, local expert)
  std::vector<int64_t> recvRowOffsets_;   // [R * L + 1], chunks ordered (source rank, local expert)
  std::vector<int64_t> expertChunkRow_;   // [R * L]: where chunk (source, expert) lands in expert order
  std::vector<int64_t> expertOffsets_;    // [L + 1]
  int64_t sendRows_ = 0;
  std::vector<uint8_t> sendBuf_, recvBuf_;
};

}  // namespace samperf
