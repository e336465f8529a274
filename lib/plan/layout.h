// The layout of one MoE layer on one rank: pure data (counts, offsets, index
// arrays), no memory of the caller, no transport. The host executor reads it
// from host memory; a CUDA executor can mirror the same arrays on the device
// once at plan creation and run the same steps as kernels.
//
// Vocabulary:
//  - a "send vector" is one (token, destination rank) pair of this rank: the
//    token's row of x travels once to that rank, whatever the number of its
//    experts there;
//  - a "recv vector" is the same pair seen by the destination;
//  - a "row" is one (recv vector, local expert) pair on the expert's rank: a
//    row of the grouped-GEMM input, grouped by local expert.
// Every token carries k "slots" (the columns of expertIdx/weights [T, k]); a
// vector's metadata keeps all k slots, -1 for the slots that live elsewhere or
// were dropped, so slot positions survive the trip (gradWeights needs them).
#pragma once

#include <cstdint>
#include <vector>

namespace sam {

// What the routing result says about experts and ranks.
struct ExpertPlacement {
  int numExperts = 0;  // E
  int numRanks = 0;    // R, divides E
  int topk = 0;        // k
  int localExperts() const { return numExperts / numRanks; }
  int rankOf(int expert) const { return expert / localExperts(); }
};

struct SendLayout {
  std::vector<int64_t> count;        // [R] vectors to each rank
  std::vector<int64_t> offset;       // [R + 1] start of each rank's vectors
  std::vector<int32_t> token;        // [vectors] source token, ascending per rank
  std::vector<int64_t> rows;         // [R] (token, expert) rows each rank will expand
  std::vector<int32_t> localExpert;  // [vectors * k] local expert per slot, -1 = not on that rank
  std::vector<float> weight;         // [vectors * k] weight per slot, 0 where localExpert is -1
  // Per token, its vectors in ascending rank order (CSR), so the source sums
  // a token's returning vectors in one pass, in a fixed order.
  std::vector<int64_t> tokenOffset;  // [T + 1]
  std::vector<int64_t> tokenVector;  // [vectors]
  // Where a returning vector lands in combine: the token's row of y when it
  // is the token's only vector (always, for SAM), else -1; and its index in
  // the spill buffer when the token has several (summed afterwards), else -1.
  std::vector<int64_t> soleToken;    // [vectors]
  std::vector<int64_t> spillRow;     // [vectors]
  int64_t total() const { return offset.empty() ? 0 : offset.back(); }
};

struct RecvLayout {
  std::vector<int64_t> count;        // [R] vectors from each rank
  std::vector<int64_t> offset;       // [R + 1]
  std::vector<int32_t> localExpert;  // [vectors * k] as sent
  std::vector<float> weight;         // [vectors * k]
  // The expansion: rows grouped by local expert, stable by (source rank,
  // source token order, slot).
  std::vector<int64_t> expertCount;   // [L]
  std::vector<int64_t> expertOffset;  // [L + 1]
  std::vector<int64_t> rowVector;     // [rows] the recv vector each row copies
  std::vector<int64_t> slotRow;       // [vectors * k] the row of each slot, -1 if none
  int64_t total() const { return offset.empty() ? 0 : offset.back(); }
  int64_t rows() const { return expertOffset.empty() ? 0 : expertOffset.back(); }
};

struct PlanLayout {
  ExpertPlacement placement;
  int rank = 0;
  int64_t numTokens = 0;
  SendLayout send;
  RecvLayout recv;
};

// Where one routing entry is invalid (for the caller's error message).
struct RouteEntryError {
  bool bad = false;
  int64_t token = 0;
  int slot = 0;
  int32_t value = 0;
};

// Checks that every expertIdx entry is -1 or in [0, E).
RouteEntryError findBadExpert(const ExpertPlacement& p, int64_t numTokens, const int32_t* expertIdx);

// The send side from expertIdx/weights [T, k] (entries -1 = dropped). Each
// token appears once for each rank that holds at least one of its experts.
SendLayout buildSendLayout(const ExpertPlacement& p, int64_t numTokens, const int32_t* expertIdx,
                           const float* weights);

// The receive side from the vectors' metadata, already gathered in source
// rank order (recvCount[src] vectors from each src, k slots each).
RecvLayout buildRecvLayout(const ExpertPlacement& p, const std::vector<int64_t>& recvCount,
                           std::vector<int32_t> localExpert, std::vector<float> weight);

}  // namespace sam
