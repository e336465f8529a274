// fp16 and bf16 <-> fp32 on the host. Widening is exact; narrowing rounds to
// nearest even, as the GPU's conversion instructions do, so the host and CUDA
// paths round identically. Used by routing (logits) and the data path (rows).
#pragma once

#include <cstdint>

namespace sam {

float bf16ToFloat(uint16_t h);
uint16_t floatToBf16(float f);  // round to nearest even; NaN stays NaN
float fp16ToFloat(uint16_t h);
uint16_t floatToFp16(float f);  // round to nearest even; overflow -> Inf

}  // namespace sam
