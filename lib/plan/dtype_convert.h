// Conversions between the data types of the data path (fp32, fp16, bf16) and
// fp32, where every sum of the host backend is computed. Narrowing rounds to
// nearest even, as the GPU's conversion instructions do, so the host backend
// and a CUDA backend round identically.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sam.h"

namespace sam {

float bf16ToFloat(uint16_t h);
uint16_t floatToBf16(float f);  // round to nearest even; NaN stays NaN
float fp16ToFloat(uint16_t h);
uint16_t floatToFp16(float f);  // round to nearest even; overflow -> Inf

// True for the dtypes the data path moves (fp32, fp16, bf16).
bool isDataPathType(samDataType_t dtype);
size_t dataTypeBytes(samDataType_t dtype);

// A row of n elements of `dtype` at `src` -> fp32.
void loadRow(samDataType_t dtype, const void* src, float* dst, size_t n);
// acc[i] += scale * row[i] (row of `dtype`): the fused step of every weighted sum.
void accumulateRow(samDataType_t dtype, const void* src, float scale, float* acc, size_t n);
// fp32 -> a row of `dtype`.
void storeRow(samDataType_t dtype, const float* src, void* dst, size_t n);
// <a, b> in fp32, both rows of `dtype`.
float dotRows(samDataType_t dtype, const void* a, const void* b, size_t n);

}  // namespace sam
