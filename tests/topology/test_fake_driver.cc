// Discovery's NVML and CUDA path, run in a child sam-topo over the stand-in
// driver libraries (fake_nvml.c, fake_cuda.c): names, UUIDs, CUDA ordinals
// and NVLinks through an NVSwitch come from the driver; without NVML it
// falls back quietly.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/topology/cli_runner.h"
#include "tests/topology/json_mini.h"

using namespace samtest;

namespace {

// The GPUs of the fake driver (PCI domain fffe) in a sam-topo --json output,
// with their positions in the GPU list.
std::vector<size_t> fakeGpus(const Json& j) {
  std::vector<size_t> at;
  for (size_t g = 0; g < j["gpus"].arr.size(); ++g)
    if (j["gpus"][g]["pci_bus_id"].str.rfind("fffe:", 0) == 0) at.push_back(g);
  return at;
}

// hwloc's own CUDA/NVML plugins, where installed, would load the stand-ins
// too and call entry points they lack: keep them out of these runs.
// The CUDA variables of the calling environment are cleared so that the
// expected numbering holds on a machine with real GPUs too.
std::string fakeDriverEnv(const std::string& extra = "") {
  return "env -u CUDA_VISIBLE_DEVICES -u CUDA_DEVICE_ORDER -u SAM_TOPO_FILE HWLOC_COMPONENTS=-nvml,-cuda,-opencl "
         "LD_LIBRARY_PATH=" + std::string(SAM_FAKE_DRIVER_DIR) + " " + extra + " ";
}

// Loads the stand-in libcuda into sam-topo before it starts, as an
// application that uses CUDA would have.
std::string withCudaLoaded() { return "LD_PRELOAD=" + std::string(SAM_FAKE_DRIVER_DIR) + "/libcuda.so.1"; }

// cuda_index of the fake GPUs fffe:01 and fffe:02 in a --json run.
std::vector<int> cudaIndices(const std::string& env) {
  CliRun r = samTopo("--json", false, env);
  EXPECT_EQ(r.status, 0) << r.out;
  Json j = parseJson(r.out);
  std::vector<int> out;
  for (size_t g : fakeGpus(j)) out.push_back(j["gpus"][g]["cuda_index"].asInt());
  return out;
}

}  // namespace

TEST(TopologyFakeDriver, NvmlAndCudaFillTheGpus) {
  CliRun r = samTopo("--json", false, fakeDriverEnv());
  ASSERT_EQ(r.status, 0) << r.out;
  Json j = parseJson(r.out);
  std::vector<size_t> at = fakeGpus(j);
  ASSERT_EQ(at.size(), 2u) << r.out;
  const Json& a = j["gpus"][at[0]];
  const Json& b = j["gpus"][at[1]];
  EXPECT_EQ(a["pci_bus_id"].str, "fffe:01:00.0");
  EXPECT_EQ(b["pci_bus_id"].str, "fffe:02:00.0");
  EXPECT_EQ(a["name"].str, "NVIDIA H200");
  EXPECT_EQ(a["uuid"].str, "GPU-fake-0");
  EXPECT_EQ(b["uuid"].str, "GPU-fake-1");
  // Without CUDA in the process the ordinals follow the PCI order.
  EXPECT_EQ(a["cuda_index"].asInt(), 0);
  EXPECT_EQ(b["cuda_index"].asInt(), 1);
  // 18 links each to the NVSwitch: NV18 between them, 18 x 25 GB/s.
  const Json& l = j["links"][at[0]][at[1]];
  EXPECT_EQ(l["class"].str, "NVL");
  EXPECT_EQ(l["nvlinks"].asInt(), 18);
  EXPECT_DOUBLE_EQ(l["bandwidth_gbps"].num, 450.0);
  EXPECT_EQ(j["links"][at[1]][at[0]]["nvlinks"].asInt(), 18);

  CliRun text = samTopo("", false, fakeDriverEnv());
  ASSERT_EQ(text.status, 0);
  EXPECT_NE(text.out.find("NV18"), std::string::npos) << text.out;
}

TEST(TopologyFakeDriver, CudaOrdinals) {
  // CUDA already loaded: the driver's numbering (the reverse of PCI order).
  EXPECT_EQ(cudaIndices(fakeDriverEnv(withCudaLoaded())), (std::vector<int>{1, 0}));
  // Not loaded (no cuInit, so children forked later keep a usable CUDA):
  // derived from NVML and CUDA_VISIBLE_DEVICES.
  EXPECT_EQ(cudaIndices(fakeDriverEnv()), (std::vector<int>{0, 1}));
  EXPECT_EQ(cudaIndices(fakeDriverEnv("CUDA_VISIBLE_DEVICES=1")), (std::vector<int>{-1, 0}));
  EXPECT_EQ(cudaIndices(fakeDriverEnv("CUDA_VISIBLE_DEVICES=GPU-fake-1,GPU-fake-0")), (std::vector<int>{1, 0}));
  // CUDA stops at the first entry it cannot use.
  EXPECT_EQ(cudaIndices(fakeDriverEnv("CUDA_VISIBLE_DEVICES=0,7,1")), (std::vector<int>{0, -1}));
  EXPECT_EQ(cudaIndices(fakeDriverEnv("CUDA_VISIBLE_DEVICES=")), (std::vector<int>{-1, -1}));
}

TEST(TopologyFakeDriver, NvmlInitFailureFallsBack) {
  // Without NVML, and CUDA not loaded: no driver GPUs, no failure.
  CliRun r = samTopo("--json", false, fakeDriverEnv("FAKE_NVML_INIT_FAIL=1"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(fakeGpus(parseJson(r.out)).empty()) << r.out;
  // With CUDA loaded: GPUs with ordinals, no names, no NVLink.
  r = samTopo("--json", false, fakeDriverEnv("FAKE_NVML_INIT_FAIL=1 " + withCudaLoaded()));
  ASSERT_EQ(r.status, 0) << r.out;
  Json j = parseJson(r.out);
  std::vector<size_t> at = fakeGpus(j);
  ASSERT_EQ(at.size(), 2u) << r.out;
  EXPECT_EQ(j["gpus"][at[0]]["name"].str, "");
  EXPECT_EQ(j["gpus"][at[0]]["cuda_index"].asInt(), 1);
  EXPECT_NE(j["links"][at[0]][at[1]]["class"].str, "NVL");
}

TEST(TopologyFakeDriver, ProbeCanBeSwitchedOff) {
  CliRun r = samTopo("--json", false, fakeDriverEnv("SAM_TOPO_GPU_PROBE=0"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(fakeGpus(parseJson(r.out)).empty()) << r.out;
}

TEST(TopologyFakeDriver, NoDriverMeansNoDriverGpus) {
  CliRun r = samTopo("--json", false, "LD_LIBRARY_PATH=/nonexistent ");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(fakeGpus(parseJson(r.out)).empty());
}
