#include "core/params.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace sam {
namespace {

struct Param {
  const char* name;
  const char* defaultValue;
  const char* help;
};

const Param kParams[] = {
#define SAM_PARAM(name, def, help) {#name, def, help},
#include "core/params.def"
#undef SAM_PARAM
};
constexpr int kNumParams = sizeof(kParams) / sizeof(kParams[0]);

const Param& find(const char* name) {
  for (const Param& p : kParams)
    if (strcmp(p.name, name) == 0) return p;
  throwError(samInternalError, std::string("undeclared env knob ") + name + " (add it to params.def)");
}

}  // namespace

bool paramIsSet(const char* name) {
  find(name);
  const char* v = getenv(name);
  return v != nullptr && *v != '\0';
}

std::string paramString(const char* name) {
  const Param& p = find(name);
  const char* v = getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : std::string(p.defaultValue);
}

int64_t paramInt(const char* name) {
  std::string s = paramString(name);
  errno = 0;
  char* end = nullptr;
  long long v = strtoll(s.c_str(), &end, 10);
  if (s.empty() || errno != 0 || end == nullptr || *end != '\0')
    throwError(samInvalidArgument, std::string(name) + "='" + s + "' is not an integer");
  return v;
}

}  // namespace sam

extern "C" {

samResult_t samParamCount(int* count) {
  if (count == nullptr) return sam::fail(samInvalidArgument, "samParamCount: count is NULL");
  *count = sam::kNumParams;
  return samSuccess;
}

samResult_t samParamGet(int index, samParamInfo_t* info) {
  if (info == nullptr) return sam::fail(samInvalidArgument, "samParamGet: info is NULL");
  if (index < 0 || index >= sam::kNumParams)
    return sam::failf(samInvalidArgument, "samParamGet: index %d outside [0, %d)", index, sam::kNumParams);
  const sam::Param& p = sam::kParams[index];
  const char* v = getenv(p.name);
  info->name = p.name;
  info->defaultValue = p.defaultValue;
  info->value = (v != nullptr && *v != '\0') ? v : p.defaultValue;
  info->help = p.help;
  return samSuccess;
}

}  // extern "C"
