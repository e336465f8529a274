#include "sam_perf_inputs.h"

#include "sam_perf_args.h"
#include "sam_perf_dtype.h"

namespace samperf {

namespace {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Key of one row: distinct streams for logits and tokens.
inline uint64_t rowKey(uint64_t seed, uint64_t stream, int rank, int64_t token) {
  return splitmix64(splitmix64(splitmix64(seed ^ stream) + static_cast<uint64_t>(rank)) +
                    static_cast<uint64_t>(token));
}

// Uniform in [0, 1) with 24 random bits.
inline float unit(uint64_t key, uint64_t col) {
  return static_cast<float>(splitmix64(key + col * 0xd1b54a32d192ed03ull) >> 40) * (1.0f / 16777216.0f);
}

}  // namespace

void makeLogits(uint64_t seed, int rank, int64_t numTokens, int numExperts, float* logits) {
  for (int64_t t = 0; t < numTokens; ++t) {
    uint64_t key = rowKey(seed, 0x4c4f47495453ull /* "LOGITS" */, rank, t);
    for (int e = 0; e < numExperts; ++e) logits[t * numExperts + e] = 6.0f * unit(key, e) - 3.0f;
  }
}

void makeTokens(uint64_t seed, int rank, int64_t first, int64_t count, int hidden, samDataType_t dt,
                void* out) {
  for (int64_t i = 0; i < count; ++i) {
    uint64_t key = rowKey(seed, 0x544f4b454e53ull /* "TOKENS" */, rank, first + i);
    size_t base = static_cast<size_t>(i) * hidden;
    for (int h = 0; h < hidden; ++h) storeElem(out, base + h, 2.0f * unit(key, h) - 1.0f, dt);
  }
}

// Scales 0.5 .. 2.25 and biases -0.25 .. 0.25, exact in every data type.
float expertScale(int expert) { return 0.5f + 0.25f * static_cast<float>(expert % 8); }
float expertBias(int expert) { return 0.125f * static_cast<float>(expert % 5 - 2); }

void applyExpert(int expert, const void* in, void* out, int64_t rows, int hidden, samDataType_t dt) {
  const float a = expertScale(expert), b = expertBias(expert);
  const size_t n = static_cast<size_t>(rows) * hidden;
  if (dt == samFloat32) {
    const float* src = static_cast<const float*>(in);
    float* dst = static_cast<float*>(out);
    for (size_t i = 0; i < n; ++i) dst[i] = a * src[i] + b;
    return;
  }
  for (size_t i = 0; i < n; ++i) storeElem(out, i, a * loadElem(in, i, dt) + b, dt);
}

uint64_t hashBytes(const void* data, size_t bytes) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0x243f6a8885a308d3ull ^ bytes;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = splitmix64(h ^ w);
  }
  uint64_t tail = 0;
  for (size_t j = 0; i < bytes; ++i, ++j) tail |= static_cast<uint64_t>(p[i]) << (8 * j);
  return splitmix64(h ^ tail);
}

}  // namespace samperf
