// Shared helpers of the topology tests.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "sam.h"

namespace samtest {

inline std::string dataFile(const char* name) { return std::string(SAM_TEST_DATA_DIR) + "/" + name; }

// Owns a samTopology_t.
struct Topo {
  samTopology_t t = nullptr;
  Topo() = default;
  explicit Topo(samTopology_t x) : t(x) {}
  Topo(const Topo&) = delete;
  Topo& operator=(const Topo&) = delete;
  ~Topo() { samTopologyDestroy(t); }
  samTopology_t get() const { return t; }
};

inline samTopology_t loadOrFail(const std::string& path) {
  samTopology_t t = nullptr;
  samResult_t r = samTopologyLoadXml(path.c_str(), &t);
  EXPECT_EQ(r, samSuccess) << samGetLastError();
  return t;
}

inline int count(samTopology_t t, samTopoCount_t what) {
  int n = -1;
  EXPECT_EQ(samTopologyGetCount(t, what, &n), samSuccess) << samGetLastError();
  return n;
}

inline samGpuInfo_t gpu(samTopology_t t, int i) {
  samGpuInfo_t g{};
  EXPECT_EQ(samTopologyGetGpu(t, i, &g), samSuccess) << samGetLastError();
  return g;
}

inline samNicInfo_t nic(samTopology_t t, int i) {
  samNicInfo_t n{};
  EXPECT_EQ(samTopologyGetNic(t, i, &n), samSuccess) << samGetLastError();
  return n;
}

inline samLinkInfo_t link(samTopology_t t, int a, int b) {
  samLinkInfo_t l{};
  EXPECT_EQ(samTopologyGetLink(t, a, b, &l), samSuccess) << samGetLastError();
  return l;
}

inline samLinkInfo_t nicLink(samTopology_t t, int g, int n) {
  samLinkInfo_t l{};
  EXPECT_EQ(samTopologyGetNicLink(t, g, n, &l), samSuccess) << samGetLastError();
  return l;
}

// Every field of two models, through the C API.
inline void expectSameModel(samTopology_t a, samTopology_t b) {
  for (int w = samTopoPackages; w <= samTopoNics; ++w)
    ASSERT_EQ(count(a, samTopoCount_t(w)), count(b, samTopoCount_t(w))) << "count " << w;
  const int ng = count(a, samTopoGpus), nn = count(a, samTopoNics);
  for (int g = 0; g < ng; ++g) {
    samGpuInfo_t x = gpu(a, g), y = gpu(b, g);
    EXPECT_EQ(x.index, y.index);
    EXPECT_STREQ(x.name, y.name);
    EXPECT_STREQ(x.uuid, y.uuid);
    EXPECT_STREQ(x.pciBusId, y.pciBusId);
    EXPECT_EQ(x.numa, y.numa);
    EXPECT_EQ(x.cudaIndex, y.cudaIndex);
    EXPECT_EQ(x.nearestNic, y.nearestNic);
    for (int h = 0; h < ng; ++h) {
      samLinkInfo_t l = link(a, g, h), m = link(b, g, h);
      EXPECT_EQ(l.linkClass, m.linkClass) << g << "-" << h;
      EXPECT_EQ(l.nvlinks, m.nvlinks) << g << "-" << h;
      EXPECT_DOUBLE_EQ(l.bandwidthGBps, m.bandwidthGBps) << g << "-" << h;
    }
    for (int n = 0; n < nn; ++n) EXPECT_EQ(nicLink(a, g, n).linkClass, nicLink(b, g, n).linkClass);
  }
  for (int n = 0; n < nn; ++n) {
    samNicInfo_t x = nic(a, n), y = nic(b, n);
    EXPECT_STREQ(x.name, y.name);
    EXPECT_STREQ(x.netdev, y.netdev);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_STREQ(x.pciBusId, y.pciBusId);
    EXPECT_EQ(x.numa, y.numa);
  }
}

// A fresh file name under the test's temporary directory.
inline std::string tempPath(const std::string& name) {
  const char* dir = getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/samtopo-" + std::to_string(getpid()) + "-" + name;
}

}  // namespace samtest
