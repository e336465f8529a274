// samConfig_t -> CommConfig: fields left at SAM_CONFIG_UNDEF_INT take their
// env knob (SAM_BACKEND, SAM_CUDA_DEVICE, SAM_TIMEOUT_MS), then the default.
#pragma once

#include "comm/comm.h"

namespace sam {

// Throws sam::Error naming the field (or knob) at fault; `fn` prefixes messages.
// config may be NULL (all defaults). cudaDevice stays -1 when neither the
// config nor SAM_CUDA_DEVICE sets it (init then picks one for the cuda backend).
CommConfig resolveConfig(const samConfig_t* config, const char* fn);

}  // namespace sam
