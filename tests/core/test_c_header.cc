#include <gtest/gtest.h>

extern "C" int samTestCHeaderConfigOk(void);

TEST(CHeader, CompilesAsC99AndInitializerWorks) { EXPECT_EQ(samTestCHeaderConfigOk(), 1); }
