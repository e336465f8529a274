// hwloc synthetic topologies: machines without GPUs or I/O, of random shapes.
#include <random>
#include <string>

#include "core/error.h"
#include "tests/topology/topo_helpers.h"
#include "topology/topology.h"

using namespace samtest;

TEST(TopologySynthetic, TwoPackagesTwoNumaEach) {
  Topo t(sam::topo::loadSynthetic("pack:2 numa:2 core:4 pu:2").release());
  EXPECT_EQ(count(t.get(), samTopoPackages), 2);
  EXPECT_EQ(count(t.get(), samTopoNumaNodes), 4);
  EXPECT_EQ(count(t.get(), samTopoCores), 16);
  EXPECT_EQ(count(t.get(), samTopoPus), 32);
  EXPECT_EQ(count(t.get(), samTopoGpus), 0);
  EXPECT_EQ(count(t.get(), samTopoNics), 0);
  samGpuInfo_t g;
  EXPECT_EQ(samTopologyGetGpu(t.get(), 0, &g), samInvalidArgument);
  samLinkInfo_t l;
  EXPECT_EQ(samTopologyGetLink(t.get(), 0, 0, &l), samInvalidArgument);
}

TEST(TopologySynthetic, RandomShapes) {
  std::random_device rd;
  std::mt19937 rng(rd());
  std::uniform_int_distribution<int> d(1, 5);
  for (int trial = 0; trial < 20; ++trial) {
    int packs = d(rng), numas = d(rng), cores = d(rng), pus = d(rng);
    std::string desc = "pack:" + std::to_string(packs) + " numa:" + std::to_string(numas) +
                       " core:" + std::to_string(cores) + " pu:" + std::to_string(pus);
    SCOPED_TRACE(desc);
    Topo t(sam::topo::loadSynthetic(desc).release());
    EXPECT_EQ(count(t.get(), samTopoPackages), packs);
    EXPECT_EQ(count(t.get(), samTopoNumaNodes), packs * numas);
    EXPECT_EQ(count(t.get(), samTopoCores), packs * numas * cores);
    EXPECT_EQ(count(t.get(), samTopoPus), packs * numas * cores * pus);
    EXPECT_EQ(count(t.get(), samTopoGpus), 0);
  }
}

TEST(TopologySynthetic, NoNumaLevelMeansOneNode) {
  Topo t(sam::topo::loadSynthetic("pack:3 core:2 pu:1").release());
  EXPECT_EQ(count(t.get(), samTopoPackages), 3);
  EXPECT_EQ(count(t.get(), samTopoNumaNodes), 1);
  EXPECT_EQ(count(t.get(), samTopoCores), 6);
}

TEST(TopologySynthetic, BadDescriptionIsAnInvalidArgument) {
  try {
    sam::topo::loadSynthetic("pack:two core:x");
    FAIL() << "accepted a bad description";
  } catch (const sam::Error& e) {
    EXPECT_EQ(e.code, samInvalidArgument);
    EXPECT_NE(e.detail.find("pack:two core:x"), std::string::npos) << e.detail;
  }
}

TEST(TopologySynthetic, SavesAndReloads) {
  Topo t(sam::topo::loadSynthetic("pack:2 numa:2 core:3 pu:2").release());
  std::string path = tempPath("synthetic.xml");
  ASSERT_EQ(samTopologySaveXml(t.get(), path.c_str()), samSuccess) << samGetLastError();
  Topo back(loadOrFail(path));
  ASSERT_NE(back.get(), nullptr);
  expectSameModel(t.get(), back.get());
  unlink(path.c_str());
}
