#include "core/error.h"

#include <cstdarg>
#include <cstdio>
#include <new>
#include <stdexcept>

#include "core/log.h"

namespace sam {
namespace {
thread_local std::string tlsLastError;
}  // namespace

void setLastError(const std::string& detail) { tlsLastError = detail; }
void clearLastError() { tlsLastError.clear(); }
const char* lastError() { return tlsLastError.c_str(); }

samResult_t fail(samResult_t code, const std::string& detail) {
  setLastError(detail);
  SAM_WARN(LOG_ALL, "%s (%s)", detail.c_str(), samGetErrorString(code));
  return code;
}

samResult_t failf(samResult_t code, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return fail(code, buf);
}

void throwError(samResult_t code, const std::string& detail) { throw Error{code, detail}; }

samResult_t failFromException(const char* fn) noexcept {
  try {
    throw;
  } catch (const Error& e) {
    return fail(e.code, e.detail);
  } catch (const std::bad_alloc&) {
    return fail(samOutOfMemory, std::string(fn) + ": out of host memory");
  } catch (const std::exception& e) {
    return fail(samInternalError, std::string(fn) + ": internal error: " + e.what());
  } catch (...) {
    return fail(samInternalError, std::string(fn) + ": internal error: unknown exception");
  }
}

}  // namespace sam

extern "C" {

const char* samGetErrorString(samResult_t result) {
  switch (result) {
    case samSuccess: return "success";
    case samInvalidArgument: return "invalid argument";
    case samInvalidUsage: return "invalid usage";
    case samSystemError: return "system error";
    case samInternalError: return "internal error";
    case samTimeout: return "timeout";
    case samRemoteError: return "remote error";
    case samNotSupported: return "not supported";
    case samOutOfMemory: return "out of memory";
    case samCudaError: return "CUDA error";
    case samNumericError: return "numeric error (NaN or Inf)";
    default: return "unknown result code";
  }
}

const char* samGetLastError(void) { return sam::lastError(); }

samResult_t samGetVersion(int* version) {
  if (version == nullptr) return sam::fail(samInvalidArgument, "samGetVersion: version is NULL");
  *version = SAM_VERSION_CODE;
  return samSuccess;
}

samResult_t samDataTypeSize(samDataType_t dtype, size_t* bytes) {
  if (bytes == nullptr) return sam::fail(samInvalidArgument, "samDataTypeSize: bytes is NULL");
  switch (dtype) {
    case samFloat32: *bytes = 4; return samSuccess;
    case samFloat16: *bytes = 2; return samSuccess;
    case samBfloat16: *bytes = 2; return samSuccess;
    case samInt32: *bytes = 4; return samSuccess;
    case samFloat64: *bytes = 8; return samSuccess;
    default: break;
  }
  return sam::failf(samInvalidArgument, "samDataTypeSize: unknown dtype %d", static_cast<int>(dtype));
}

}  // extern "C"
