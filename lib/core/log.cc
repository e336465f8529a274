#include "core/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "core/params.h"

namespace sam {
namespace {

struct LogState {
  std::once_flag once;
  std::mutex mutex;
  LogLevel level = LOG_NONE;
  uint32_t subsys = LOG_ALL;
  FILE* out = stderr;
  char host[64] = "";
};

LogState& state() {
  static LogState s;
  return s;
}
std::atomic<int> gRank{-1};
std::atomic<bool> gLoaded{false};

uint32_t subsysBit(const std::string& name) {
  static const struct { const char* name; uint32_t bit; } kNames[] = {
      {"INIT", LOG_INIT}, {"TOPO", LOG_TOPO}, {"BOOT", LOG_BOOT}, {"ROUTE", LOG_ROUTE},
      {"PLAN", LOG_PLAN}, {"NET", LOG_NET},   {"SHM", LOG_SHM},   {"CUDA", LOG_CUDA},
      {"ENV", LOG_ENV},   {"ALL", LOG_ALL}};
  for (const auto& n : kNames)
    if (strcasecmp(name.c_str(), n.name) == 0) return n.bit;
  return 0;
}

// Expands %h and %p in SAM_DEBUG_FILE.
std::string expandPath(const std::string& pattern, const char* host) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      char c = pattern[i + 1];
      if (c == 'h') { out += host; ++i; continue; }
      if (c == 'p') { out += std::to_string(getpid()); ++i; continue; }
    }
    out += pattern[i];
  }
  return out;
}

void load() {
  LogState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  gethostname(s.host, sizeof(s.host) - 1);
  if (char* dot = strchr(s.host, '.')) *dot = '\0';
  std::string level = paramString("SAM_DEBUG");
  if (strcasecmp(level.c_str(), "WARN") == 0) s.level = LOG_LEVEL_WARN;
  else if (strcasecmp(level.c_str(), "INFO") == 0) s.level = LOG_LEVEL_INFO;
  else if (strcasecmp(level.c_str(), "TRACE") == 0) s.level = LOG_LEVEL_TRACE;
  else s.level = LOG_NONE;

  std::string list = paramString("SAM_DEBUG_SUBSYS");
  bool invert = !list.empty() && list[0] == '^';
  if (invert) list.erase(0, 1);
  uint32_t mask = list.empty() ? static_cast<uint32_t>(LOG_ALL) : 0u;
  size_t pos = 0;
  while (pos <= list.size() && !list.empty()) {
    size_t comma = list.find(',', pos);
    std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    mask |= subsysBit(item);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  s.subsys = invert ? ~mask : mask;

  if (s.out != stderr && s.out != nullptr) fclose(s.out);
  s.out = stderr;
  std::string file = paramString("SAM_DEBUG_FILE");
  if (!file.empty()) {
    std::string path = expandPath(file, s.host);
    if (FILE* f = fopen(path.c_str(), "a")) s.out = f;
  }
  gLoaded = true;
}

}  // namespace

bool logEnabled(LogLevel level, uint32_t subsys) {
  if (!gLoaded) load();
  const LogState& s = state();
  return level <= s.level && (subsys & s.subsys) != 0;
}

void logSetRank(int rank) { gRank = rank; }
void logReset() { load(); }

void logMessage(LogLevel level, uint32_t /*subsys*/, const char* file, int line, const char* fmt, ...) {
  LogState& s = state();
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  const char* levelName = (level == LOG_LEVEL_INFO) ? "INFO" : "TRACE";
  const char* base = strrchr(file, '/');
  base = base ? base + 1 : file;
  long tid = static_cast<long>(syscall(SYS_gettid));
  std::lock_guard<std::mutex> lock(s.mutex);
  if (level == LOG_LEVEL_WARN)
    fprintf(s.out, "%s:%d:%ld [%d] SAM WARN %s:%d %s\n", s.host, getpid(), tid, gRank.load(), base, line, msg);
  else
    fprintf(s.out, "%s:%d:%ld [%d] SAM %s %s\n", s.host, getpid(), tid, gRank.load(), levelName, msg);
  fflush(s.out);
}

}  // namespace sam
