#include "plan/dtype_convert.h"

#include <cstring>

namespace sam {
namespace {

uint32_t bitsOf(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof(u));
  return u;
}
float floatOf(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof(f));
  return f;
}

template <typename Load>
void forEachRow(samDataType_t dtype, const void* src, size_t n, Load&& load) {
  switch (dtype) {
    case samFloat32: {
      const float* s = static_cast<const float*>(src);
      for (size_t i = 0; i < n; ++i) load(i, s[i]);
      break;
    }
    case samBfloat16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) load(i, bf16ToFloat(s[i]));
      break;
    }
    case samFloat16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) load(i, fp16ToFloat(s[i]));
      break;
    }
    default:
      break;  // callers check isDataPathType first
  }
}

}  // namespace

float bf16ToFloat(uint16_t h) { return floatOf(static_cast<uint32_t>(h) << 16); }

uint16_t floatToBf16(float f) {
  uint32_t u = bitsOf(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  // Round to nearest even: add 0x7fff plus the lowest kept bit, then truncate.
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float fp16ToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) return floatOf(sign | 0x7f800000u | (man << 13));  // Inf, NaN
  if (exp == 0) {
    if (man == 0) return floatOf(sign);
    // Subnormal: value = man * 2^-24.
    float v = static_cast<float>(man) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  return floatOf(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t floatToFp16(float f) {
  uint32_t u = bitsOf(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (absu >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: Inf
  if (absu >= 0x38800000u) {
    // Normal in fp16: rebias the exponent, round the 13 dropped bits to even.
    uint32_t v = absu - (112u << 23);
    v += 0xfffu + ((v >> 13) & 1u);
    return static_cast<uint16_t>(sign | (v >> 13));
  }
  if (absu < 0x33000000u) return sign;  // below half the smallest subnormal: +-0
  // Subnormal in fp16: shift the full mantissa (with its implicit 1) into place.
  uint32_t exp = absu >> 23;
  uint32_t man = (absu & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126u - exp;  // 14..24 bits dropped
  uint32_t kept = man >> shift;
  uint32_t rest = man & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (kept & 1u))) kept += 1;
  return static_cast<uint16_t>(sign | kept);
}

bool isDataPathType(samDataType_t dtype) {
  return dtype == samFloat32 || dtype == samFloat16 || dtype == samBfloat16;
}

size_t dataTypeBytes(samDataType_t dtype) { return dtype == samFloat32 ? 4 : 2; }

void loadRow(samDataType_t dtype, const void* src, float* dst, size_t n) {
  forEachRow(dtype, src, n, [&](size_t i, float v) { dst[i] = v; });
}

void accumulateRow(samDataType_t dtype, const void* src, float scale, float* acc, size_t n) {
  if (dtype == samFloat32) {
    // The hot loop of combine: restrict lets the compiler vectorize it.
    const float* __restrict s = static_cast<const float*>(src);
    float* __restrict a = acc;
    for (size_t i = 0; i < n; ++i) a[i] += scale * s[i];
    return;
  }
  forEachRow(dtype, src, n, [&](size_t i, float v) { acc[i] += scale * v; });
}

void storeRow(samDataType_t dtype, const float* src, void* dst, size_t n) {
  switch (dtype) {
    case samFloat32:
      memcpy(dst, src, n * sizeof(float));
      break;
    case samBfloat16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = floatToBf16(src[i]);
      break;
    }
    case samFloat16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = floatToFp16(src[i]);
      break;
    }
    default:
      break;
  }
}

float dotRows(samDataType_t dtype, const void* a, const void* b, size_t n) {
  if (dtype == samFloat32) {
    const float* x = static_cast<const float*>(a);
    const float* y = static_cast<const float*>(b);
    float s = 0.0f;
    for (size_t i = 0; i < n; ++i) s += x[i] * y[i];
    return s;
  }
  // fp16 and bf16: both are 16-bit words.
  const uint16_t* x = static_cast<const uint16_t*>(a);
  const uint16_t* y = static_cast<const uint16_t*>(b);
  float (*toFloat)(uint16_t) = dtype == samBfloat16 ? bf16ToFloat : fp16ToFloat;
  float s = 0.0f;
  for (size_t i = 0; i < n; ++i) s += toFloat(x[i]) * toFloat(y[i]);
  return s;
}

}  // namespace sam
