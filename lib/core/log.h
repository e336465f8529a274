// Logging, NCCL-style: SAM_DEBUG=WARN|INFO|TRACE, SAM_DEBUG_SUBSYS=INIT,TOPO,...
// (a leading ^ inverts the list), SAM_DEBUG_FILE=path with %h (host) and %p (pid).
// Lines read "host:pid:tid [rank] SAM INFO message"; a WARN carries file:line.
#pragma once

#include <cstdint>

namespace sam {

enum LogLevel : int { LOG_NONE = 0, LOG_LEVEL_WARN = 1, LOG_LEVEL_INFO = 2, LOG_LEVEL_TRACE = 3 };

enum LogSubsys : uint32_t {
  LOG_INIT = 1u << 0,
  LOG_TOPO = 1u << 1,
  LOG_BOOT = 1u << 2,
  LOG_ROUTE = 1u << 3,
  LOG_PLAN = 1u << 4,
  LOG_NET = 1u << 5,
  LOG_SHM = 1u << 6,
  LOG_CUDA = 1u << 7,
  LOG_ENV = 1u << 8,
  LOG_ALL = ~0u,
};

// True when a message of this level and subsystem would be printed.
bool logEnabled(LogLevel level, uint32_t subsys);
void logMessage(LogLevel level, uint32_t subsys, const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 5, 6)));
// The rank printed in log lines of this process (-1 until a communicator exists).
void logSetRank(int rank);
// Re-reads SAM_DEBUG* (tests change the environment).
void logReset();

}  // namespace sam

#define SAM_LOG_AT(level, subsys, ...)                                   \
  do {                                                                   \
    if (::sam::logEnabled(level, subsys))                                \
      ::sam::logMessage(level, subsys, __FILE__, __LINE__, __VA_ARGS__); \
  } while (0)
#define SAM_WARN(subsys, ...) SAM_LOG_AT(::sam::LOG_LEVEL_WARN, ::sam::subsys, __VA_ARGS__)
#define SAM_INFO(subsys, ...) SAM_LOG_AT(::sam::LOG_LEVEL_INFO, ::sam::subsys, __VA_ARGS__)
#define SAM_TRACE(subsys, ...) SAM_LOG_AT(::sam::LOG_LEVEL_TRACE, ::sam::subsys, __VA_ARGS__)
