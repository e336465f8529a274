// Element access for the three data types sam-perf moves (fp32, bf16, fp16),
// on the host: the reference and the baseline compute in float and round to
// the data type exactly as a framework would store it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "sam.h"

namespace samperf {

inline float bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, NaN kept a NaN.
inline uint16_t floatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; man <<= 1; } while ((man & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, with overflow to Inf and gradual underflow.
inline uint16_t floatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t absBits = bits & 0x7fffffffu;
  if (absBits > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (absBits >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: Inf
  if (absBits < 0x38800000u) {                        // below the smallest normal
    float a;
    std::memcpy(&a, &absBits, 4);
    // Subnormal steps are 2^-24: scale, round to nearest even.
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f));
  }
  uint32_t exp = ((absBits >> 23) - 127 + 15);
  uint32_t man = absBits & 0x7fffffu;
  uint32_t h = exp << 10 | man >> 13;
  uint32_t rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // carries into the exponent correctly
  return sign | static_cast<uint16_t>(h);
}

inline float loadElem(const void* base, size_t i, samDataType_t dt) {
  switch (dt) {
    case samFloat32: return static_cast<const float*>(base)[i];
    case samBfloat16: return bf16ToFloat(static_cast<const uint16_t*>(base)[i]);
    default: return halfToFloat(static_cast<const uint16_t*>(base)[i]);
  }
}

inline void storeElem(void* base, size_t i, float v, samDataType_t dt) {
  switch (dt) {
    case samFloat32: static_cast<float*>(base)[i] = v; break;
    case samBfloat16: static_cast<uint16_t*>(base)[i] = floatToBf16(v); break;
    default: static_cast<uint16_t*>(base)[i] = floatToHalf(v); break;
  }
}

// The value a float takes once stored in `dt`.
inline float roundTo(float v, samDataType_t dt) {
  switch (dt) {
    case samFloat32: return v;
    case samBfloat16: return bf16ToFloat(floatToBf16(v));
    default: return halfToFloat(floatToHalf(v));
  }
}

// Unit roundoff 2^-p of the data type, p its significand precision (24, 8
// and 11 bits): the largest relative error of one rounding to nearest.
inline double unitRoundoff(samDataType_t dt) {
  switch (dt) {
    case samFloat32: return std::ldexp(1.0, -24);
    case samBfloat16: return std::ldexp(1.0, -8);
    default: return std::ldexp(1.0, -11);
  }
}

}  // namespace samperf
