// Floats as sortable int keys, and the bounds a key gives on its value: the
// CUDA row kernel's candidate lists (route_rows.cuh) and the host tests of
// the bounds its proofs rest on (tests/route/test_route_math.cc) share them.
#pragma once

#include "route/route_math.h"

namespace sam {
namespace route {

// Float bits as a signed int that orders like the float (finite values, no -0:
// scores are >= +0 and a score plus a bias is never -0). INT_MIN = no candidate.
SAM_HD int ordKey(float v) {
  const int i = floatBits(v);
  return i >= 0 ? i : i ^ 0x7fffffff;
}
SAM_HD float keyValue(int k) { return floatFromBits(static_cast<uint32_t>(k >= 0 ? k : k ^ 0x7fffffff)); }

// A key for "larger is better" floats: smaller key = larger value.
SAM_HD int descKey(float v) { return ~ordKey(v); }
SAM_HD float descValue(int k) { return keyValue(~k); }

// Keys carry the expert in their low 8 bits (E <= 256, the row kernel's
// limit), so the order is by the value with those bits dropped, then by
// index: exact for 16-bit logits (whose fp32 bits end in 13 or 16 zeros), a
// bucket of 256 ulps for fp32. (Each bit fewer halves the buckets, and with
// them the fp32 tokens whose last pick shares the runner-up's bucket and so
// go the exact way.)
constexpr int kExpertBits = 255;
SAM_HD int tagged(int key, int idx, int bits) { return (key & ~bits) | idx; }

// The 16-bit logit (bf16 or fp16, as fp32) a softmax key was made from
// (valueKey<true>, then tagged): a 16-bit value's fp32 bits end in 13 or 16
// zeros, so the 8 bits the index replaced were all ones (x >= 0: the key is
// negative) or all zeros (x < 0), and the key gives the logit back exactly.
SAM_HD float keyLogit16(int key) { return descValue(key < 0 ? (key | kExpertBits) : (key & ~kExpertBits)); }

// Whether softmax keys (valueKey<true>, then tagged) came from finite logits
// only, given the smallest (best) and the largest (worst) of them: a +Inf or
// +NaN key sits at or below +Inf's bucket, below every finite logit's; a
// -Inf or -NaN key at or above -Inf's, above every finite one's. So a kernel
// that keys every logit anyway needs no separate check for them.
SAM_HD bool keysFinite(int bestKey, int worstKey) {
  constexpr int kPosInfLast = ~0x7f800000 | kExpertBits;  // the largest key of +Inf's bucket
  constexpr int kNegInfFirst = 0x7f800000;                // the smallest key of -Inf's bucket
  return bestKey > kPosInfLast && worstKey < kNegInfFirst;
}

// The key of a candidate's value: the logit (softmax), or sel - 1 (sigmoid:
// the top sels sit just below 1, where sel - 1 is exact and small, so
// within 2^-6 of 1 the 8 dropped bits cost at most 2^-22 (~2.4e-7) instead
// of 2^-16 (~1.5e-5) and close runner-ups can still be proven apart).
// keyBound is the inverse, plus `slack` (sigmoid) so that it stays a bound
// on every value of the key's bucket.
template <bool kSoftmax>
SAM_HD int valueKey(float v) {
  return descKey(kSoftmax ? v : v - 1.0f);
}
template <bool kSoftmax>
SAM_HD float keyBound(int key, float slack) {
  return kSoftmax ? descValue(key) : (descValue(key) + 1.0f) + slack;
}

// keyBound's slack for sigmoid sels: |sel| <= B = 1 + max |bias|, and the two
// roundings (sel - 1, then + 1) lose at most (B + 2) 2^-24 each; the slack,
// (B + 2) 2^-22, is twice both.
SAM_HD float sigmoidKeySlack(float maxAbsBias) { return (3.0f + maxAbsBias) * 0x1p-22f; }

}  // namespace route
}  // namespace sam
