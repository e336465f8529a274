#include "comm/config.h"

#include <cstddef>
#include <string>

#include "core/error.h"
#include "core/params.h"

namespace sam {
namespace {

// The fields of the first config version; a caller's struct may be larger
// (a newer header) but never smaller than this.
constexpr size_t kMinConfigSize = offsetof(samConfig_t, blocking) + sizeof(int);

bool defined(int v) { return v != SAM_CONFIG_UNDEF_INT; }

samBackend_t backendFromKnob(const char* fn) {
  std::string v = paramString("SAM_BACKEND");
  if (v == "host") return samBackendHost;
  if (v == "cuda") return samBackendCuda;
  throwError(samInvalidArgument, std::string(fn) + ": SAM_BACKEND='" + v + "' must be host or cuda");
}

}  // namespace

CommConfig resolveConfig(const samConfig_t* config, const char* fn) {
  const std::string f(fn);
  samConfig_t c = SAM_CONFIG_INITIALIZER;
  if (config != nullptr) {
    if (config->magic != SAM_CONFIG_MAGIC)
      throwError(samInvalidArgument, f + ": config was not initialised with SAM_CONFIG_INITIALIZER (bad magic)");
    if (config->size < kMinConfigSize)
      throwError(samInvalidArgument, f + ": config->size is " + std::to_string(config->size) + ", must be >= " +
                                         std::to_string(kMinConfigSize));
    if (config->version < static_cast<unsigned>(SAM_VERSION(0, 1, 0)))
      throwError(samInvalidArgument, f + ": config->version " + std::to_string(config->version) + " is not a libsam version");
    c = *config;  // only the fields this library knows are read below
  }
  CommConfig out;
  if (defined(c.backend)) {
    if (c.backend != samBackendHost && c.backend != samBackendCuda)
      throwError(samInvalidArgument, f + ": config->backend is " + std::to_string(c.backend) +
                                         ", must be samBackendHost or samBackendCuda");
    out.backend = static_cast<samBackend_t>(c.backend);
  } else {
    out.backend = backendFromKnob(fn);
  }
  if (out.backend == samBackendCuda && !SAM_HAVE_CUDA)
    throwError(samNotSupported, f + ": backend cuda requested but libsam was built without CUDA");

  if (defined(c.cudaDevice)) {
    if (c.cudaDevice < 0) throwError(samInvalidArgument, f + ": config->cudaDevice is " + std::to_string(c.cudaDevice) + ", must be >= 0");
    out.cudaDevice = c.cudaDevice;
  } else if (paramIsSet("SAM_CUDA_DEVICE")) {
    int64_t d = paramInt("SAM_CUDA_DEVICE");
    if (d < 0 || d > 1024) throwError(samInvalidArgument, f + ": SAM_CUDA_DEVICE=" + std::to_string(d) + " is out of range");
    out.cudaDevice = static_cast<int>(d);
  }

  int64_t timeout = defined(c.timeoutMs) ? c.timeoutMs : paramInt("SAM_TIMEOUT_MS");
  if (timeout < 1 || timeout > 24 * 3600 * 1000)
    throwError(samInvalidArgument, f + (defined(c.timeoutMs) ? ": config->timeoutMs is " : ": SAM_TIMEOUT_MS=") +
                                       std::to_string(timeout) + ", must be 1 .. 86400000 ms");
  out.timeoutMs = static_cast<int>(timeout);

  if (defined(c.blocking) && c.blocking != 1)
    throwError(samNotSupported, f + ": config->blocking=" + std::to_string(c.blocking) +
                                    ": only blocking init (1) is supported");
  return out;
}

}  // namespace sam
