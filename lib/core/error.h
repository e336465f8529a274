// Errors inside libsam: one place decides what went wrong, records the detail
// as this thread's last error (samGetLastError) and logs it once.
#pragma once

#include <string>

#include "sam.h"

namespace sam {

// Records `detail` as the calling thread's last error, logs it at WARN (with
// the caller's subsystem) and returns `code`, so call sites read
//   if (!ptr) return fail(samInvalidArgument, "samX: ptr is NULL");
samResult_t fail(samResult_t code, const std::string& detail);
// printf-style variant.
samResult_t failf(samResult_t code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

void setLastError(const std::string& detail);
void clearLastError();
const char* lastError();

// Lets internal C++ code signal a failure by exception; the C boundary
// (SAM_API_BEGIN/END) turns it into its code. Never crosses sam.h.
struct Error {
  samResult_t code;
  std::string detail;
};
[[noreturn]] void throwError(samResult_t code, const std::string& detail);

// Runs `body` (returning samResult_t) and maps every exception to a result:
// sam::Error to its code, std::bad_alloc to samOutOfMemory, anything else to
// samInternalError. Every exported function is wrapped in it.
template <typename F>
samResult_t apiCall(const char* fn, F&& body) noexcept;

samResult_t failFromException(const char* fn) noexcept;

template <typename F>
samResult_t apiCall(const char* fn, F&& body) noexcept {
  try {
    clearLastError();
    return body();
  } catch (...) {
    return failFromException(fn);
  }
}

}  // namespace sam

// Returns from the enclosing function when a samResult_t expression fails.
#define SAM_CHECK(expr)                      \
  do {                                       \
    samResult_t sam_check_r_ = (expr);       \
    if (sam_check_r_ != samSuccess) return sam_check_r_; \
  } while (0)

// Argument checks at the C boundary: the message names the argument.
#define SAM_CHECK_ARG(cond, fn, what)                                        \
  do {                                                                       \
    if (!(cond)) return ::sam::fail(samInvalidArgument, std::string(fn) + ": " + (what)); \
  } while (0)
#define SAM_CHECK_PTR(ptr, fn) SAM_CHECK_ARG((ptr) != nullptr, fn, #ptr " is NULL")
