// Rows of the data path's types (fp32, fp16, bf16) to and from fp32, where
// every sum of the host backend is computed (scalar conversions: core/half.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/half.h"  // the scalar conversions
#include "sam.h"

namespace sam {

// True for the dtypes the data path moves (fp32, fp16, bf16).
bool isDataPathType(samDataType_t dtype);
size_t dataTypeBytes(samDataType_t dtype);

// A row of n elements of `dtype` at `src` -> fp32.
void loadRow(samDataType_t dtype, const void* src, float* dst, size_t n);
// acc[i] += scale * row[i] (row of `dtype`): the fused step of every weighted sum.
void accumulateRow(samDataType_t dtype, const void* src, float scale, float* acc, size_t n);
// fp32 -> a row of `dtype`.
void storeRow(samDataType_t dtype, const float* src, void* dst, size_t n);
// <a, b> in fp32, both rows of `dtype`: eight interleaved partial sums
// (element i goes to sum i % 8), added pairwise, then the tail of n % 8.
float dotRows(samDataType_t dtype, const void* a, const void* b, size_t n);

}  // namespace sam
