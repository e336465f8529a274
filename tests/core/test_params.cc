#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <string>

#include "core/error.h"
#include "core/params.h"
#include "sam.h"

TEST(Params, RegistryListsEveryKnobOnceWithHelp) {
  int n = 0;
  ASSERT_EQ(samParamCount(&n), samSuccess);
  ASSERT_GT(n, 5);
  std::set<std::string> names;
  for (int i = 0; i < n; ++i) {
    samParamInfo_t info;
    ASSERT_EQ(samParamGet(i, &info), samSuccess);
    EXPECT_EQ(std::string(info.name).rfind("SAM_", 0), 0u) << info.name;
    EXPECT_GT(strlen(info.help), 10u) << info.name;
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
  }
  EXPECT_TRUE(names.count("SAM_TIMEOUT_MS"));
  EXPECT_TRUE(names.count("SAM_DEBUG"));
  samParamInfo_t info;
  EXPECT_EQ(samParamGet(n, &info), samInvalidArgument);
  EXPECT_EQ(samParamGet(-1, &info), samInvalidArgument);
}

TEST(Params, EnvironmentOverridesDefault) {
  unsetenv("SAM_TIMEOUT_MS");
  EXPECT_EQ(sam::paramInt("SAM_TIMEOUT_MS"), 30000);
  EXPECT_FALSE(sam::paramIsSet("SAM_TIMEOUT_MS"));
  setenv("SAM_TIMEOUT_MS", "1234", 1);
  EXPECT_EQ(sam::paramInt("SAM_TIMEOUT_MS"), 1234);
  EXPECT_TRUE(sam::paramIsSet("SAM_TIMEOUT_MS"));
  setenv("SAM_TIMEOUT_MS", "12x", 1);
  try {
    sam::paramInt("SAM_TIMEOUT_MS");
    FAIL() << "malformed integer accepted";
  } catch (const sam::Error& e) {
    EXPECT_EQ(e.code, samInvalidArgument);
    EXPECT_NE(e.detail.find("SAM_TIMEOUT_MS"), std::string::npos);
  }
  unsetenv("SAM_TIMEOUT_MS");
}

TEST(Params, UndeclaredKnobIsABug) {
  EXPECT_THROW(sam::paramString("SAM_NO_SUCH_KNOB"), sam::Error);
}
