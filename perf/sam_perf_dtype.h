// Element access for the three data types sam-perf moves (fp32, bf16, fp16),
// on the host: the reference and the baseline compute in float and round to
// the data type exactly as a framework would store it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/half.h"
#include "sam.h"

namespace samperf {

// The conversions are the library's own (lib/core/half.h): the data
// path stores rows with them, so the reference rounds exactly the same way.
inline float bf16ToFloat(uint16_t h) { return sam::bf16ToFloat(h); }
inline uint16_t floatToBf16(float f) { return sam::floatToBf16(f); }
inline float halfToFloat(uint16_t h) { return sam::fp16ToFloat(h); }
inline uint16_t floatToHalf(float f) { return sam::floatToFp16(f); }

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
