// Environment variables set (or unset, value nullptr) for a scope, and put
// back as they were when it ends: tests that switch SAM_* knobs must not leak
// them into the next test, nor clobber a value the whole run was started with.
#pragma once

#include <cstdlib>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>

namespace samtest {

class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const auto& kv : vars) set(kv.first, kv.second);
  }
  ScopedEnv(const char* name, const std::string& value) { set(name, value.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    for (const auto& kv : saved_) {
      if (kv.second.first) setenv(kv.first.c_str(), kv.second.second.c_str(), 1);
      else unsetenv(kv.first.c_str());
    }
  }

 private:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    if (!saved_.count(name)) saved_[name] = old ? std::make_pair(true, std::string(old)) : std::make_pair(false, std::string());
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  std::map<std::string, std::pair<bool, std::string>> saved_;
};

}  // namespace samtest
