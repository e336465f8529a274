// The real machines in tests/data: exact counts, GPUs, NICs and links, as
// read off the XML files (and lstopo -i).
#include <cstring>
#include <string>

#include "tests/topology/topo_helpers.h"

using namespace samtest;

TEST(TopologyPower8, CountsAndGpus) {
  Topo t(loadOrFail(dataFile("power8-4gpu-nvlink.xml")));
  ASSERT_NE(t.get(), nullptr);
  EXPECT_EQ(count(t.get(), samTopoPackages), 2);
  EXPECT_EQ(count(t.get(), samTopoNumaNodes), 2);
  EXPECT_EQ(count(t.get(), samTopoCores), 8);
  EXPECT_EQ(count(t.get(), samTopoPus), 16);
  EXPECT_EQ(count(t.get(), samTopoGpus), 4);
  EXPECT_EQ(count(t.get(), samTopoNics), 0);
  const char* bus[] = {"0002:01:00.0", "0003:01:00.0", "000a:01:00.0", "000b:01:00.0"};
  const int numa[] = {0, 0, 1, 1};
  for (int g = 0; g < 4; ++g) {
    samGpuInfo_t info = gpu(t.get(), g);
    EXPECT_EQ(info.index, g);
    EXPECT_STREQ(info.pciBusId, bus[g]);
    EXPECT_EQ(info.numa, numa[g]) << "GPU" << g;
    EXPECT_STREQ(info.name, "Tesla P100-SXM2-16GB");
    EXPECT_EQ(info.cudaIndex, g);  // cuda0..cuda3 sit on the GPUs in bus order
    EXPECT_EQ(strncmp(info.uuid, "GPU-", 4), 0) << info.uuid;
    EXPECT_EQ(info.nearestNic, -1);
  }
  EXPECT_STREQ(gpu(t.get(), 0).uuid, "GPU-77bf6b9a-6906-5a93-d28b-b77d2c23d1d2");
}

TEST(TopologyPower8, NvlinkPairsAndSys) {
  Topo t(loadOrFail(dataFile("power8-4gpu-nvlink.xml")));
  ASSERT_NE(t.get(), nullptr);
  // NVLink pairs: (0,1) and (2,3), 40 GB/s = two NVLink-1 links of 20 GB/s.
  // Their links to the CPUs in the same matrix are not GPU paths.
  for (int a = 0; a < 4; ++a) {
    for (int b = 0; b < 4; ++b) {
      samLinkInfo_t l = link(t.get(), a, b);
      if (a == b) {
        EXPECT_EQ(l.linkClass, samLinkSelf);
      } else if (a / 2 == b / 2) {
        EXPECT_EQ(l.linkClass, samLinkNvl) << a << "-" << b;
        EXPECT_EQ(l.nvlinks, 2);
        EXPECT_DOUBLE_EQ(l.bandwidthGBps, 40.0);
      } else {
        EXPECT_EQ(l.linkClass, samLinkSys) << a << "-" << b;
        EXPECT_EQ(l.nvlinks, 0);
        EXPECT_DOUBLE_EQ(l.bandwidthGBps, 10.0);
      }
    }
  }
}

TEST(Topology2Numa, CountsGpusAndDisplayAdapters) {
  Topo t(loadOrFail(dataFile("2numa-3gpu-ib.xml")));
  ASSERT_NE(t.get(), nullptr);
  EXPECT_EQ(count(t.get(), samTopoPackages), 2);
  EXPECT_EQ(count(t.get(), samTopoNumaNodes), 2);
  EXPECT_EQ(count(t.get(), samTopoCores), 16);
  EXPECT_EQ(count(t.get(), samTopoPus), 32);
  // Three NVIDIA GPUs; the Matrox VGA (05:03.0) and the AMD Radeon (84:00.1,
  // an OpenCL device) are display adapters of other vendors, not GPUs.
  ASSERT_EQ(count(t.get(), samTopoGpus), 3);
  const char* bus[] = {"0000:03:00.0", "0000:83:00.0", "0000:84:00.0"};
  const int numa[] = {0, 1, 1};
  const int cuda[] = {-1, -1, 0};  // only 84:00.0 is seen by CUDA (cuda0)
  for (int g = 0; g < 3; ++g) {
    samGpuInfo_t info = gpu(t.get(), g);
    EXPECT_STREQ(info.pciBusId, bus[g]);
    EXPECT_EQ(info.numa, numa[g]) << "GPU" << g;
    EXPECT_EQ(info.cudaIndex, cuda[g]) << "GPU" << g;
    EXPECT_STREQ(info.uuid, "");
  }
  // Names: the CUDA device's model where CUDA saw the GPU, else the PCI name.
  EXPECT_STREQ(gpu(t.get(), 0).name, "Tesla M2075 Dual-Slot Computing Processor Module");
  EXPECT_STREQ(gpu(t.get(), 2).name, "Tesla K40m");
}

TEST(Topology2Numa, NicsAndAffinity) {
  Topo t(loadOrFail(dataFile("2numa-3gpu-ib.xml")));
  ASSERT_NE(t.get(), nullptr);
  // mlx5_0 with its netdev ib0 (ib0 is not a NIC of its own), eth0, eth1.
  ASSERT_EQ(count(t.get(), samTopoNics), 3);
  samNicInfo_t ib = nic(t.get(), 0);
  EXPECT_STREQ(ib.name, "mlx5_0");
  EXPECT_STREQ(ib.netdev, "ib0");
  EXPECT_EQ(ib.kind, samNicIb);
  EXPECT_STREQ(ib.pciBusId, "0000:04:00.0");
  EXPECT_EQ(ib.numa, 1);
  const char* eth[] = {"eth0", "eth1"};
  const char* ethBus[] = {"0000:81:00.0", "0000:81:00.1"};
  for (int i = 0; i < 2; ++i) {
    samNicInfo_t n = nic(t.get(), 1 + i);
    EXPECT_STREQ(n.name, eth[i]);
    EXPECT_EQ(n.kind, samNicEth);
    EXPECT_STREQ(n.pciBusId, ethBus[i]);
    EXPECT_STREQ(n.netdev, "");
    EXPECT_EQ(n.numa, 1);
  }
  // mlx5_0 sits under the root port of GPU 84:00.0 (PIX), under the host
  // bridge of GPU 83:00.0 (PHB), across the sockets from 03:00.0 (SYS). It
  // is the nearest NIC of all three: of GPU0 only because every NIC is SYS
  // from it and an RDMA NIC wins ties.
  EXPECT_EQ(nicLink(t.get(), 2, 0).linkClass, samLinkPix);
  EXPECT_EQ(nicLink(t.get(), 1, 0).linkClass, samLinkPhb);
  EXPECT_EQ(nicLink(t.get(), 0, 0).linkClass, samLinkSys);
  for (int n = 1; n < 3; ++n) {
    EXPECT_EQ(nicLink(t.get(), 0, n).linkClass, samLinkSys);
    EXPECT_EQ(nicLink(t.get(), 1, n).linkClass, samLinkPhb);
    EXPECT_EQ(nicLink(t.get(), 2, n).linkClass, samLinkPhb);
  }
  for (int g = 0; g < 3; ++g) EXPECT_EQ(gpu(t.get(), g).nearestNic, 0) << "GPU" << g;
}

TEST(Topology2Numa, GpuLinks) {
  Topo t(loadOrFail(dataFile("2numa-3gpu-ib.xml")));
  ASSERT_NE(t.get(), nullptr);
  // hwloc has no PCIe link speeds here (0), so the default table applies.
  struct Want { int a, b; samLinkClass_t c; double gbps; } want[] = {
      {0, 1, samLinkSys, 10.0}, {0, 2, samLinkSys, 10.0}, {1, 2, samLinkPhb, 20.0}};
  for (const Want& w : want) {
    for (int flip = 0; flip < 2; ++flip) {
      samLinkInfo_t l = flip ? link(t.get(), w.b, w.a) : link(t.get(), w.a, w.b);
      EXPECT_EQ(l.linkClass, w.c) << w.a << "-" << w.b;
      EXPECT_EQ(l.nvlinks, 0);
      EXPECT_DOUBLE_EQ(l.bandwidthGBps, w.gbps);
    }
  }
  for (int g = 0; g < 3; ++g) EXPECT_EQ(link(t.get(), g, g).linkClass, samLinkSelf);
}

TEST(TopologyApi, BadArgumentsNameTheArgumentAndWriteNothing) {
  Topo t(loadOrFail(dataFile("2numa-3gpu-ib.xml")));
  ASSERT_NE(t.get(), nullptr);
  samGpuInfo_t g;
  memset(&g, 0x5a, sizeof(g));
  samGpuInfo_t poisoned = g;
  EXPECT_EQ(samTopologyGetGpu(t.get(), 3, &g), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("index is 3"), std::string::npos) << samGetLastError();
  EXPECT_EQ(samTopologyGetGpu(t.get(), -1, &g), samInvalidArgument);
  EXPECT_EQ(memcmp(&g, &poisoned, sizeof(g)), 0);
  samLinkInfo_t l;
  memset(&l, 0x5a, sizeof(l));
  samLinkInfo_t poisonedLink = l;
  EXPECT_EQ(samTopologyGetLink(t.get(), 0, 7, &l), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("gpuB is 7"), std::string::npos) << samGetLastError();
  EXPECT_EQ(samTopologyGetNicLink(t.get(), 0, 3, &l), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("nic is 3"), std::string::npos) << samGetLastError();
  EXPECT_EQ(memcmp(&l, &poisonedLink, sizeof(l)), 0);
  samNicInfo_t n;
  EXPECT_EQ(samTopologyGetNic(t.get(), 3, &n), samInvalidArgument);
  EXPECT_EQ(samTopologyGetGpu(nullptr, 0, &g), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("topo is NULL"), std::string::npos) << samGetLastError();
  EXPECT_EQ(samTopologyGetGpu(t.get(), 0, nullptr), samInvalidArgument);
  int c = 42;
  EXPECT_EQ(samTopologyGetCount(t.get(), samTopoCount_t(99), &c), samInvalidArgument);
  EXPECT_EQ(c, 42);
  EXPECT_EQ(samTopologyLoadXml(nullptr, &t.t), samInvalidArgument);
  EXPECT_EQ(samTopologyDiscover(nullptr), samInvalidArgument);
  EXPECT_EQ(samTopologySaveXml(t.get(), nullptr), samInvalidArgument);
  EXPECT_EQ(samTopologyDestroy(nullptr), samSuccess);
}

TEST(TopologyApi, LinkClassStrings) {
  const char* want[] = {"SELF", "NVL", "PIX", "PXB", "PHB", "NODE", "SYS", "NET"};
  for (int c = 0; c < samNumLinkClasses; ++c) EXPECT_STREQ(samLinkClassString(samLinkClass_t(c)), want[c]);
  EXPECT_STREQ(samLinkClassString(samLinkClass_t(42)), "UNKNOWN");
}
