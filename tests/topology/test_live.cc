// This machine, and the saved 2-GPU H200 machine once it is in tests/data.
#include <cstdlib>
#include <string>
#include <sys/stat.h>

#include "tests/topology/topo_helpers.h"

using namespace samtest;

TEST(TopologyLive, DiscoverThisMachine) {
  samTopology_t raw = nullptr;
  ASSERT_EQ(samTopologyDiscover(&raw), samSuccess) << samGetLastError();
  Topo t(raw);
  EXPECT_GT(count(t.get(), samTopoPackages), 0);
  EXPECT_GT(count(t.get(), samTopoNumaNodes), 0);
  EXPECT_GT(count(t.get(), samTopoCores), 0);
  EXPECT_GE(count(t.get(), samTopoPus), count(t.get(), samTopoCores));
  const int ng = count(t.get(), samTopoGpus), nn = count(t.get(), samTopoNics);
  for (int g = 0; g < ng; ++g) {
    samGpuInfo_t info = gpu(t.get(), g);
    EXPECT_EQ(info.index, g);
    EXPECT_EQ(strlen(info.pciBusId), 12u) << info.pciBusId;
    EXPECT_LT(info.nearestNic, nn);
    EXPECT_EQ(link(t.get(), g, g).linkClass, samLinkSelf);
  }
  for (int n = 0; n < nn; ++n) {
    samNicInfo_t info = nic(t.get(), n);
    EXPECT_EQ(info.index, n);
    EXPECT_GT(strlen(info.name), 0u);
  }
}

TEST(TopologyLive, WithoutGpuProbe) {
  setenv("SAM_TOPO_GPU_PROBE", "0", 1);
  samTopology_t raw = nullptr;
  samResult_t r = samTopologyDiscover(&raw);
  unsetenv("SAM_TOPO_GPU_PROBE");
  ASSERT_EQ(r, samSuccess) << samGetLastError();
  Topo t(raw);
  EXPECT_GT(count(t.get(), samTopoPus), 0);
}

// Saved on the 2 x H200 machine with `sam-topo --of xml tests/data/h200x2.xml`.
TEST(TopologyH200, TwoGpusOnEighteenNvlinks) {
  std::string path = dataFile("h200x2.xml");
  struct stat st;
  if (stat(path.c_str(), &st) != 0) GTEST_SKIP() << path << " not recorded yet";
  Topo t(loadOrFail(path));
  ASSERT_NE(t.get(), nullptr);
  ASSERT_EQ(count(t.get(), samTopoGpus), 2);
  for (int g = 0; g < 2; ++g) {
    samGpuInfo_t info = gpu(t.get(), g);
    EXPECT_NE(std::string(info.name).find("H200"), std::string::npos) << info.name;
    EXPECT_GE(info.numa, 0);
  }
  samLinkInfo_t l = link(t.get(), 0, 1);
  EXPECT_EQ(l.linkClass, samLinkNvl);
  EXPECT_EQ(l.nvlinks, 18);
  EXPECT_DOUBLE_EQ(l.bandwidthGBps, 450.0);
  EXPECT_EQ(link(t.get(), 1, 0).nvlinks, 18);
}
