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

// hwloc's own CUDA/NVML plugins, where installed, would load the stand-ins
// too and call entry points they lack: keep them out of these runs.
std::string fakeDriverEnv(const std::string& extra = "") {
  return "HWLOC_COMPONENTS=-nvml,-cuda,-opencl LD_LIBRARY_PATH=" + std::string(SAM_FAKE_DRIVER_DIR) + " " + extra + " ";
}

// The GPUs of the fake driver (PCI domain fffe) in a sam-topo --json output,
// with their positions in the GPU list.
std::vector<size_t> fakeGpus(const Json& j) {
  std::vector<size_t> at;
  for (size_t g = 0; g < j["gpus"].arr.size(); ++g)
    if (j["gpus"][g]["pci_bus_id"].str.rfind("fffe:", 0) == 0) at.push_back(g);
  return at;
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
  // CUDA numbers them in the other order.
  EXPECT_EQ(a["cuda_index"].asInt(), 1);
  EXPECT_EQ(b["cuda_index"].asInt(), 0);
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

TEST(TopologyFakeDriver, NvmlInitFailureFallsBack) {
  CliRun r = samTopo("--json", false, fakeDriverEnv("FAKE_NVML_INIT_FAIL=1"));
  ASSERT_EQ(r.status, 0) << r.out;
  Json j = parseJson(r.out);
  std::vector<size_t> at = fakeGpus(j);
  // Only the CUDA driver answered: GPUs with ordinals, no names, no NVLink.
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
