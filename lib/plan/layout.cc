#include "plan/layout.h"

#include <utility>

namespace sam {

RouteEntryError findBadExpert(const ExpertPlacement& p, int64_t numTokens, const int32_t* expertIdx) {
  for (int64_t t = 0; t < numTokens; ++t) {
    for (int j = 0; j < p.topk; ++j) {
      int32_t e = expertIdx[t * p.topk + j];
      if (e < -1 || e >= p.numExperts) return {true, t, j, e};
    }
  }
  return {};
}

SendLayout buildSendLayout(const ExpertPlacement& p, int64_t numTokens, const int32_t* expertIdx,
                           const float* weights) {
  const int R = p.numRanks, k = p.topk;
  SendLayout s;
  s.count.assign(R, 0);
  s.rows.assign(R, 0);
  // Pass 1: how many vectors and rows go to each rank. `seen` marks the ranks
  // a token already counted, so a token goes once to each rank.
  std::vector<int64_t> seenBy(R, -1);
  for (int64_t t = 0; t < numTokens; ++t) {
    for (int j = 0; j < k; ++j) {
      int32_t e = expertIdx[t * k + j];
      if (e < 0) continue;
      int r = p.rankOf(e);
      s.rows[r] += 1;
      if (seenBy[r] != t) {
        seenBy[r] = t;
        s.count[r] += 1;
      }
    }
  }
  s.offset.assign(R + 1, 0);
  for (int r = 0; r < R; ++r) s.offset[r + 1] = s.offset[r] + s.count[r];
  const int64_t total = s.offset[R];
  s.token.assign(total, 0);
  s.localExpert.assign(total * k, -1);
  s.weight.assign(total * k, 0.0f);
  // Pass 2: fill; visiting tokens in order keeps them ascending per rank.
  std::vector<int64_t> cursor(s.offset.begin(), s.offset.end() - 1);
  std::vector<int64_t> slotOf(R, -1);  // this token's vector on rank r
  seenBy.assign(R, -1);
  const int L = p.localExperts();
  for (int64_t t = 0; t < numTokens; ++t) {
    for (int j = 0; j < k; ++j) {
      int32_t e = expertIdx[t * k + j];
      if (e < 0) continue;
      int r = p.rankOf(e);
      if (seenBy[r] != t) {
        seenBy[r] = t;
        slotOf[r] = cursor[r]++;
        s.token[slotOf[r]] = static_cast<int32_t>(t);
      }
      s.localExpert[slotOf[r] * k + j] = e % L;
      s.weight[slotOf[r] * k + j] = weights[t * k + j];
    }
  }
  s.tokenOffset.assign(numTokens + 1, 0);
  for (int64_t i = 0; i < total; ++i) s.tokenOffset[s.token[i] + 1] += 1;
  for (int64_t t = 0; t < numTokens; ++t) s.tokenOffset[t + 1] += s.tokenOffset[t];
  s.tokenVector.assign(total, 0);
  std::vector<int64_t> next(s.tokenOffset.begin(), s.tokenOffset.end() - 1);
  for (int64_t i = 0; i < total; ++i) s.tokenVector[next[s.token[i]]++] = i;  // i ascends with the rank
  s.soleToken.assign(total, -1);
  s.spillRow.assign(total, -1);
  for (int64_t i = 0; i < total; ++i) {
    const int64_t t = s.token[i];
    if (s.tokenOffset[t + 1] - s.tokenOffset[t] == 1)
      s.soleToken[i] = t;
    else
      s.spillRow[i] = i;
  }
  return s;
}

RecvLayout buildRecvLayout(const ExpertPlacement& p, const std::vector<int64_t>& recvCount,
                           std::vector<int32_t> localExpert, std::vector<float> weight) {
  const int R = p.numRanks, k = p.topk, L = p.localExperts();
  RecvLayout v;
  v.count = recvCount;
  v.offset.assign(R + 1, 0);
  for (int r = 0; r < R; ++r) v.offset[r + 1] = v.offset[r] + v.count[r];
  const int64_t vectors = v.offset[R];
  v.localExpert = std::move(localExpert);
  v.weight = std::move(weight);
  // Counting sort by local expert; scanning vectors in (source rank, source
  // token) order and slots in order makes the grouping stable.
  v.expertCount.assign(L, 0);
  for (int64_t i = 0; i < vectors * k; ++i)
    if (v.localExpert[i] >= 0) v.expertCount[v.localExpert[i]] += 1;
  v.expertOffset.assign(L + 1, 0);
  for (int e = 0; e < L; ++e) v.expertOffset[e + 1] = v.expertOffset[e] + v.expertCount[e];
  v.rowVector.assign(v.expertOffset[L], 0);
  v.slotRow.assign(vectors * k, -1);
  std::vector<int64_t> cursor(v.expertOffset.begin(), v.expertOffset.end() - 1);
  for (int64_t i = 0; i < vectors; ++i) {
    for (int j = 0; j < k; ++j) {
      int32_t e = v.localExpert[i * k + j];
      if (e < 0) continue;
      int64_t row = cursor[e]++;
      v.rowVector[row] = i;
      v.slotRow[i * k + j] = row;
    }
  }
  return v;
}

}  // namespace sam
