#include "plan/dtype_convert.h"

#include <cstring>

namespace sam {
namespace {

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

// Eight interleaved partial sums, added pairwise at the end: a fixed order
// (the same bits on every machine and every run), and independent chains the
// compiler turns into vector adds; one running sum is a chain of n dependent
// additions, which made the weight gradient the slowest step of the data path.
namespace {
constexpr int kDotLanes = 8;
template <typename Load>
float laneDot(size_t n, Load&& load) {
  float part[kDotLanes] = {};
  size_t i = 0;
  for (; i + kDotLanes <= n; i += kDotLanes)
    for (int l = 0; l < kDotLanes; ++l) part[l] += load(i + l);
  float s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; i < n; ++i) s += load(i);
  return s;
}
}  // namespace

float dotRows(samDataType_t dtype, const void* a, const void* b, size_t n) {
  if (dtype == samFloat32) {
    const float* __restrict x = static_cast<const float*>(a);
    const float* __restrict y = static_cast<const float*>(b);
    return laneDot(n, [&](size_t i) { return x[i] * y[i]; });
  }
  // fp16 and bf16: both are 16-bit words.
  const uint16_t* x = static_cast<const uint16_t*>(a);
  const uint16_t* y = static_cast<const uint16_t*>(b);
  if (dtype == samBfloat16) return laneDot(n, [&](size_t i) { return bf16ToFloat(x[i]) * bf16ToFloat(y[i]); });
  return laneDot(n, [&](size_t i) { return fp16ToFloat(x[i]) * fp16ToFloat(y[i]); });
}

}  // namespace sam
