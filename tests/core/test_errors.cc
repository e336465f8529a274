#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "core/error.h"
#include "sam.h"

TEST(Errors, EveryResultHasItsOwnString) {
  std::set<std::string> seen;
  for (int r = 0; r < samNumResults; ++r) {
    std::string s = samGetErrorString(static_cast<samResult_t>(r));
    EXPECT_NE(s, "unknown result code") << r;
    EXPECT_TRUE(seen.insert(s).second) << "duplicate text for " << r;
  }
  EXPECT_STREQ(samGetErrorString(static_cast<samResult_t>(999)), "unknown result code");
}

TEST(Errors, LastErrorNamesTheArgumentAndIsThreadLocal) {
  EXPECT_EQ(samGetVersion(nullptr), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("version"), std::string::npos);
  std::string other;
  std::thread t([&] { other = samGetLastError(); });
  t.join();
  EXPECT_EQ(other, "");
}

TEST(Errors, VersionMatchesTheHeader) {
  int v = -1;
  ASSERT_EQ(samGetVersion(&v), samSuccess);
  EXPECT_EQ(v, SAM_VERSION_CODE);
  EXPECT_EQ(SAM_VERSION_CODE, SAM_MAJOR * 10000 + SAM_MINOR * 100 + SAM_PATCH);
}

TEST(Errors, ApiCallMapsExceptionsToResults) {
  EXPECT_EQ(sam::apiCall("f", []() -> samResult_t { sam::throwError(samTimeout, "f: rank 3 late"); }),
            samTimeout);
  EXPECT_STREQ(samGetLastError(), "f: rank 3 late");
  EXPECT_EQ(sam::apiCall("g", []() -> samResult_t { throw std::bad_alloc(); }), samOutOfMemory);
  EXPECT_EQ(sam::apiCall("h", []() -> samResult_t { throw std::runtime_error("boom"); }),
            samInternalError);
  EXPECT_NE(std::string(samGetLastError()).find("boom"), std::string::npos);
  EXPECT_EQ(sam::apiCall("i", []() { return samSuccess; }), samSuccess);
  EXPECT_STREQ(samGetLastError(), "");
}

TEST(Errors, DataTypeSizes) {
  size_t b = 0;
  ASSERT_EQ(samDataTypeSize(samBfloat16, &b), samSuccess);
  EXPECT_EQ(b, 2u);
  ASSERT_EQ(samDataTypeSize(samFloat32, &b), samSuccess);
  EXPECT_EQ(b, 4u);
  EXPECT_EQ(samDataTypeSize(static_cast<samDataType_t>(42), &b), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("42"), std::string::npos);
}
