// What NVML and the CUDA driver report, merged into an hwloc topology, with
// the probe made up here so that the path runs without a GPU: names, UUIDs,
// CUDA ordinals, NVLinks through NVSwitches (as on an HGX H200 board) and
// direct ones, GPUs hwloc does not see, and that a saved file keeps it all.
#include <string>

#include "tests/topology/topo_helpers.h"
#include "topology/gpu_probe.h"
#include "topology/hwloc_load.h"
#include "topology/model.h"
#include "topology/nvlink.h"
#include "topology/pci_path.h"

using namespace samtest;
using sam::topo::GpuProbe;
using sam::topo::ProbedGpu;

namespace {

GpuProbe makeProbe(const std::vector<ProbedGpu>& gpus) {
  GpuProbe p;
  p.nvml = true;
  p.gpus = gpus;
  const size_t n = gpus.size();
  p.directLinks.assign(n * n, 0);
  p.switchLinks.assign(n, 0);
  p.perLinkMBps.assign(n, sam::topo::kNvlinkMBps);
  return p;
}

Topo merged(const std::string& file, const GpuProbe& probe) {
  sam::topo::HwlocPtr hw = sam::topo::hwlocLoadXmlFile(file);
  sam::topo::annotateWithProbe(hw.get(), probe);
  return Topo(sam::topo::buildModel(std::move(hw), file, &probe).release());
}

}  // namespace

TEST(TopologyProbeMerge, SwitchedNvlinksNamesAndExtraGpu) {
  // 83:00.0 and 84:00.0 of the 2-NUMA machine as two H200s with all 18
  // links on NVSwitches; c1:00.0 a GPU only the driver sees, with 12.
  GpuProbe probe = makeProbe({{"0000:84:00.0", "NVIDIA H200", "GPU-84", 0},
                              {"0000:83:00.0", "NVIDIA H200", "GPU-83", 1},
                              {"0000:c1:00.0", "NVIDIA H200", "GPU-c1", 2},
                              {"0000:03:00.0", "", "", -1}});
  probe.switchLinks = {18, 18, 12, 0};
  Topo t = merged(dataFile("2numa-3gpu-ib.xml"), probe);
  ASSERT_EQ(count(t.get(), samTopoGpus), 4);
  samGpuInfo_t g1 = gpu(t.get(), 1), g2 = gpu(t.get(), 2), g3 = gpu(t.get(), 3);
  EXPECT_STREQ(g1.pciBusId, "0000:83:00.0");
  EXPECT_STREQ(g1.uuid, "GPU-83");
  EXPECT_EQ(g1.cudaIndex, 1);
  EXPECT_STREQ(g2.name, "Tesla K40m");  // hwloc's CUDA device name comes first
  EXPECT_EQ(g2.cudaIndex, 0);
  EXPECT_STREQ(g3.pciBusId, "0000:c1:00.0");
  EXPECT_STREQ(g3.name, "NVIDIA H200");
  EXPECT_STREQ(gpu(t.get(), 0).name, "Tesla M2075 Dual-Slot Computing Processor Module");
  samLinkInfo_t l = link(t.get(), 1, 2);
  EXPECT_EQ(l.linkClass, samLinkNvl);
  EXPECT_EQ(l.nvlinks, 18);
  EXPECT_DOUBLE_EQ(l.bandwidthGBps, 450.0);
  l = link(t.get(), 3, 1);  // min(12, 18) switch links
  EXPECT_EQ(l.linkClass, samLinkNvl);
  EXPECT_EQ(l.nvlinks, 12);
  EXPECT_EQ(link(t.get(), 0, 1).linkClass, samLinkSys);
  EXPECT_EQ(link(t.get(), 0, 3).linkClass, samLinkSys);  // no PCI path known
  EXPECT_EQ(gpu(t.get(), 3).nearestNic, 0);

  // Saved and reloaded: the hwloc-visible GPUs keep names, UUIDs, ordinals
  // and NVLinks (as an NVLinkBandwidth matrix); the driver-only GPU is gone.
  std::string path = tempPath("merged.xml");
  ASSERT_EQ(samTopologySaveXml(t.get(), path.c_str()), samSuccess) << samGetLastError();
  Topo back(loadOrFail(path));
  ASSERT_EQ(count(back.get(), samTopoGpus), 3);
  for (int g = 0; g < 3; ++g) {
    samGpuInfo_t a = gpu(t.get(), g), b = gpu(back.get(), g);
    EXPECT_STREQ(a.name, b.name);
    EXPECT_STREQ(a.uuid, b.uuid);
    EXPECT_EQ(a.cudaIndex, b.cudaIndex);
    for (int h = 0; h < 3; ++h) {
      EXPECT_EQ(link(t.get(), g, h).linkClass, link(back.get(), g, h).linkClass) << g << "-" << h;
      EXPECT_EQ(link(t.get(), g, h).nvlinks, link(back.get(), g, h).nvlinks) << g << "-" << h;
    }
  }
  unlink(path.c_str());
}

TEST(TopologyProbeMerge, DirectNvlink1Links) {
  GpuProbe probe = makeProbe({{"0000:03:00.0", "", "", -1}, {"0000:83:00.0", "", "", -1},
                              {"0000:84:00.0", "", "", -1}});
  probe.directLinks = {0, 4, 0,  //
                       4, 0, 0,  //
                       0, 0, 0};
  probe.perLinkMBps = {sam::topo::kNvlink1MBps, sam::topo::kNvlink1MBps, sam::topo::kNvlink1MBps};
  Topo t = merged(dataFile("2numa-3gpu-ib.xml"), probe);
  samLinkInfo_t l = link(t.get(), 0, 1);
  EXPECT_EQ(l.linkClass, samLinkNvl);
  EXPECT_EQ(l.nvlinks, 4);
  EXPECT_DOUBLE_EQ(l.bandwidthGBps, 80.0);
  EXPECT_EQ(link(t.get(), 1, 2).linkClass, samLinkPhb);
}

TEST(TopologyProbeMerge, KeepsOrRaisesHwlocMatrix) {
  // POWER8: hwloc says 0-1 and 2-3 have two NVLink-1 links (40 GB/s).
  // A weaker report (one link) changes nothing; a new pair is added.
  GpuProbe probe = makeProbe({{"0002:01:00.0", "", "", -1}, {"0003:01:00.0", "", "", -1},
                              {"000a:01:00.0", "", "", -1}, {"000b:01:00.0", "", "", -1}});
  probe.directLinks = {0, 1, 2, 0,  //
                       1, 0, 0, 0,  //
                       2, 0, 0, 0,  //
                       0, 0, 0, 0};
  Topo t = merged(dataFile("power8-4gpu-nvlink.xml"), probe);
  EXPECT_EQ(link(t.get(), 0, 1).nvlinks, 2);
  EXPECT_DOUBLE_EQ(link(t.get(), 0, 1).bandwidthGBps, 40.0);
  EXPECT_EQ(link(t.get(), 0, 2).linkClass, samLinkNvl);
  EXPECT_EQ(link(t.get(), 0, 2).nvlinks, 2);
  EXPECT_DOUBLE_EQ(link(t.get(), 0, 2).bandwidthGBps, 50.0);
  EXPECT_EQ(link(t.get(), 2, 3).nvlinks, 2);
  EXPECT_EQ(link(t.get(), 1, 2).linkClass, samLinkSys);
  // The replaced matrix is what a saved file holds.
  std::string path = tempPath("power8-raised.xml");
  ASSERT_EQ(samTopologySaveXml(t.get(), path.c_str()), samSuccess) << samGetLastError();
  Topo back(loadOrFail(path));
  expectSameModel(t.get(), back.get());
  unlink(path.c_str());
}

TEST(TopologyProbeMerge, EmptyProbeChangesNothing) {
  GpuProbe probe;
  Topo t = merged(dataFile("power8-4gpu-nvlink.xml"), probe);
  Topo plain(loadOrFail(dataFile("power8-4gpu-nvlink.xml")));
  expectSameModel(t.get(), plain.get());
}

TEST(TopologyProbeMerge, RecordedNumaNodeWins) {
  // Where hwloc's locality is ambiguous, live discovery records sysfs's
  // numa_node on the PCI device (SAMNumaNode); the model and a saved file
  // follow it.
  sam::topo::HwlocPtr hw = sam::topo::hwlocLoadXmlFile(dataFile("2numa-3gpu-ib.xml"));
  std::vector<sam::topo::Gpu> gpus = sam::topo::findGpus(hw.get());
  ASSERT_EQ(gpus.size(), 3u);
  hwloc_obj_add_info(gpus[2].pci, sam::topo::kInfoNumaNode, "0");
  Topo t(sam::topo::buildModel(std::move(hw), "annotated", nullptr).release());
  EXPECT_EQ(gpu(t.get(), 2).numa, 0);
  EXPECT_EQ(gpu(t.get(), 1).numa, 1);
  std::string path = tempPath("numa-annotated.xml");
  ASSERT_EQ(samTopologySaveXml(t.get(), path.c_str()), samSuccess) << samGetLastError();
  Topo back(loadOrFail(path));
  EXPECT_EQ(gpu(back.get(), 2).numa, 0);
  unlink(path.c_str());
}

TEST(TopologyProbeMerge, GpusTheDriverDoesNotShowAreLeftOut) {
  // A container given two of the machine's GPUs: hwloc sees all three on
  // the PCI bus, NVML lists two. The third is left out, here and in a saved
  // file; without NVML (nvml = false) nothing is left out.
  GpuProbe probe = makeProbe({{"0000:83:00.0", "", "", 0}, {"0000:84:00.0", "", "", 1}});
  Topo t = merged(dataFile("2numa-3gpu-ib.xml"), probe);
  ASSERT_EQ(count(t.get(), samTopoGpus), 2);
  EXPECT_STREQ(gpu(t.get(), 0).pciBusId, "0000:83:00.0");
  EXPECT_STREQ(gpu(t.get(), 1).pciBusId, "0000:84:00.0");
  EXPECT_EQ(link(t.get(), 0, 1).linkClass, samLinkPhb);
  std::string path = tempPath("hidden.xml");
  ASSERT_EQ(samTopologySaveXml(t.get(), path.c_str()), samSuccess) << samGetLastError();
  Topo back(loadOrFail(path));
  expectSameModel(t.get(), back.get());
  unlink(path.c_str());

  probe.nvml = false;
  Topo all = merged(dataFile("2numa-3gpu-ib.xml"), probe);
  EXPECT_EQ(count(all.get(), samTopoGpus), 3);
}
