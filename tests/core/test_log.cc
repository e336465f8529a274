#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/log.h"

namespace {
std::string readFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST(Log, LevelSubsystemAndFileWithPid) {
  std::string pattern = testing::TempDir() + "samlog.%p.txt";
  std::string path = testing::TempDir() + "samlog." + std::to_string(getpid()) + ".txt";
  std::remove(path.c_str());
  setenv("SAM_DEBUG", "INFO", 1);
  setenv("SAM_DEBUG_SUBSYS", "TOPO", 1);
  setenv("SAM_DEBUG_FILE", pattern.c_str(), 1);
  sam::logReset();
  sam::logSetRank(3);
  SAM_INFO(LOG_TOPO, "visible %d", 42);
  SAM_INFO(LOG_NET, "hidden subsystem");
  SAM_TRACE(LOG_TOPO, "hidden level");
  sam::fail(samInvalidArgument, "a warning with its place");
  std::string text = readFile(path);
  EXPECT_NE(text.find("[3] SAM INFO visible 42"), std::string::npos) << text;
  EXPECT_EQ(text.find("hidden"), std::string::npos) << text;
  EXPECT_NE(text.find("SAM WARN error.cc:"), std::string::npos) << text;
  EXPECT_NE(text.find(":" + std::to_string(getpid()) + ":"), std::string::npos) << text;

  setenv("SAM_DEBUG_SUBSYS", "^TOPO", 1);
  sam::logReset();
  EXPECT_FALSE(sam::logEnabled(sam::LOG_LEVEL_INFO, sam::LOG_TOPO));
  EXPECT_TRUE(sam::logEnabled(sam::LOG_LEVEL_INFO, sam::LOG_NET));
  unsetenv("SAM_DEBUG");
  unsetenv("SAM_DEBUG_SUBSYS");
  unsetenv("SAM_DEBUG_FILE");
  sam::logReset();
  sam::logSetRank(-1);
  EXPECT_FALSE(sam::logEnabled(sam::LOG_LEVEL_WARN, sam::LOG_ALL));
  std::remove(path.c_str());
}
