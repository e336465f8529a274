// Helpers shared by the routing tests: random inputs, dtype packing, configs.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sam.h"

namespace routetest {

inline uint16_t toBf16(float f) {  // round to nearest even
  uint32_t b;
  std::memcpy(&b, &f, 4);
  b += 0x7fffu + ((b >> 16) & 1u);
  return static_cast<uint16_t>(b >> 16);
}

inline uint16_t toHalf(float f) {  // finite |f| < 65504, round to nearest even (normal range + zero)
  uint32_t b;
  std::memcpy(&b, &f, 4);
  const uint32_t sign = (b >> 16) & 0x8000u;
  int exp = static_cast<int>((b >> 23) & 0xff) - 127 + 15;
  uint32_t mant = b & 0x7fffffu;
  if (std::isinf(f)) return static_cast<uint16_t>(sign | 0x7c00u);
  if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7e00u);
  if (exp <= 0) return static_cast<uint16_t>(sign);  // tests keep values away from subnormals
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

// Logits of one dtype as raw bytes.
struct Logits {
  samDataType_t dtype = samFloat32;
  std::vector<unsigned char> bytes;
  const void* data() const { return bytes.data(); }
  size_t size() const { return bytes.size(); }
};

inline Logits pack(const std::vector<float>& x, samDataType_t dtype) {
  Logits l;
  l.dtype = dtype;
  if (dtype == samFloat32) {
    l.bytes.resize(x.size() * 4);
    std::memcpy(l.bytes.data(), x.data(), l.bytes.size());
  } else {
    std::vector<uint16_t> h(x.size());
    for (size_t i = 0; i < x.size(); ++i) h[i] = dtype == samBfloat16 ? toBf16(x[i]) : toHalf(x[i]);
    l.bytes.resize(h.size() * 2);
    std::memcpy(l.bytes.data(), h.data(), l.bytes.size());
  }
  return l;
}

inline std::vector<float> randomLogits(std::mt19937_64& rng, int64_t T, int E, float spread = 3.0f) {
  std::uniform_real_distribution<float> u(-spread, spread);
  std::vector<float> x(static_cast<size_t>(T) * E);
  for (auto& v : x) v = u(rng);
  return x;
}

// A selection bias per expert, uniform in [-spread, spread].
inline std::vector<float> randomBias(std::mt19937_64& rng, int E, float spread = 0.02f) {
  std::uniform_real_distribution<float> u(-spread, spread);
  std::vector<float> b(E);
  for (auto& v : b) v = u(rng);
  return b;
}

inline std::mt19937_64 freshRng(const char* what) {
  std::random_device rd;
  const uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  std::printf("[ seed ] %s: %llu\n", what, static_cast<unsigned long long>(seed));
  return std::mt19937_64(seed);
}

inline samRouteConfig_t preset(samRoutePreset_t p, int E, int R) {
  samRouteConfig_t c;
  if (samRouteConfigPreset(p, E, R, &c) != samSuccess) std::abort();
  return c;
}

inline const char* presetName(samRoutePreset_t p) {
  static const char* names[] = {"switch", "gshard", "sam", "deepseek-v2", "deepseek-v3"};
  return names[p];
}

inline std::string describe(const samRouteConfig_t& c) {
  return "E=" + std::to_string(c.numExperts) + " R=" + std::to_string(c.numRanks) +
         " G=" + std::to_string(c.numGroups) + " M=" + std::to_string(c.groupsPerToken) +
         " N=" + std::to_string(c.nodeLimit) + " k=" + std::to_string(c.topk) +
         " score=" + std::to_string(c.scoreFunc) + " reduce=" + std::to_string(c.groupReduce) +
         " n=" + std::to_string(c.groupReduceTopN) + " renorm=" + std::to_string(c.renormalize) +
         " scale=" + std::to_string(c.scale) + " cap=" + std::to_string(c.capacityFactor) +
         " bias=" + (c.selectionBias ? "yes" : "no");
}

// Host buffers of a forward pass, poisoned before the call.
struct HostOut {
  std::vector<int32_t> idx, rankCounts, expertCounts, dropped;
  std::vector<float> w;
  samRouteOutput_t out{};
  samRouteStats_t stats{};
  HostOut(int64_t T, int k, int E, int R)
      : idx(T * k, 0x5a5a5a5a), rankCounts(R, 0x5a5a5a5a), expertCounts(E, 0x5a5a5a5a),
        dropped(T, 0x5a5a5a5a), w(T * k, -12345.0f) {
    out = {idx.data(), w.data(), rankCounts.data(), expertCounts.data(), dropped.data()};
    std::memset(&stats, 0x5a, sizeof stats);
  }
};

}  // namespace routetest
