// Runs the built sam-topo as a child process and captures what it prints.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <set>
#include <string>

#include "tests/topology/json_mini.h"

namespace samtest {

struct CliRun {
  int status = -1;
  std::string out;
};

// Runs sam-topo with `args` (shell syntax) and `env` (VAR=value prefixes);
// stderr joins stdout if asked.
inline CliRun samTopo(const std::string& args, bool withStderr = false, const std::string& env = "") {
  std::string cmd = env + std::string(SAM_BINARY_DIR) + "/topology/sam-topo " + args + (withStderr ? " 2>&1" : " 2>/dev/null");
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  return r;
}

inline std::set<std::string> keys(const Json& o) {
  std::set<std::string> k;
  for (const auto& kv : o.obj) k.insert(kv.first);
  return k;
}

inline int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace samtest
