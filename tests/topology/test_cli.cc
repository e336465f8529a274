// The sam-topo binary: its JSON parses and matches the C API, errors are one
// line with a non-zero exit, --config lists every knob.
#include <set>
#include <string>

#include "tests/topology/cli_runner.h"
#include "tests/topology/json_mini.h"
#include "tests/topology/topo_helpers.h"

using namespace samtest;

namespace {

void expectJsonMatchesApi(const std::string& args, samTopology_t t) {
  CliRun r = samTopo(args);
  ASSERT_EQ(r.status, 0) << r.out;
  Json j;
  ASSERT_NO_THROW(j = parseJson(r.out)) << r.out;
  EXPECT_EQ(keys(j), (std::set<std::string>{"packages", "numa_nodes", "cores", "pus", "gpus", "nics", "links"}));
  EXPECT_EQ(j["packages"].asInt(), count(t, samTopoPackages));
  EXPECT_EQ(j["numa_nodes"].asInt(), count(t, samTopoNumaNodes));
  EXPECT_EQ(j["cores"].asInt(), count(t, samTopoCores));
  EXPECT_EQ(j["pus"].asInt(), count(t, samTopoPus));
  const int ng = count(t, samTopoGpus), nn = count(t, samTopoNics);
  ASSERT_EQ(j["gpus"].arr.size(), size_t(ng));
  ASSERT_EQ(j["nics"].arr.size(), size_t(nn));
  ASSERT_EQ(j["links"].arr.size(), size_t(ng));
  for (int g = 0; g < ng; ++g) {
    const Json& x = j["gpus"][size_t(g)];
    samGpuInfo_t info = gpu(t, g);
    EXPECT_EQ(keys(x), (std::set<std::string>{"index", "name", "pci_bus_id", "numa", "nearest_nic", "uuid",
                                              "cuda_index"}));
    EXPECT_EQ(x["index"].asInt(), info.index);
    EXPECT_EQ(x["name"].str, info.name);
    EXPECT_EQ(x["pci_bus_id"].str, info.pciBusId);
    EXPECT_EQ(x["numa"].asInt(), info.numa);
    EXPECT_EQ(x["nearest_nic"].asInt(), info.nearestNic);
    EXPECT_EQ(x["uuid"].str, info.uuid);
    EXPECT_EQ(x["cuda_index"].asInt(), info.cudaIndex);
    ASSERT_EQ(j["links"][size_t(g)].arr.size(), size_t(ng));
    for (int h = 0; h < ng; ++h) {
      const Json& l = j["links"][size_t(g)][size_t(h)];
      samLinkInfo_t li = link(t, g, h);
      EXPECT_EQ(keys(l), (std::set<std::string>{"class", "nvlinks", "bandwidth_gbps"}));
      EXPECT_EQ(l["class"].str, samLinkClassString(li.linkClass));
      EXPECT_EQ(l["nvlinks"].asInt(), li.nvlinks);
      EXPECT_NEAR(l["bandwidth_gbps"].num, li.bandwidthGBps, 1e-6 * (1 + li.bandwidthGBps));
    }
  }
  for (int n = 0; n < nn; ++n) {
    const Json& x = j["nics"][size_t(n)];
    samNicInfo_t info = nic(t, n);
    EXPECT_EQ(keys(x), (std::set<std::string>{"index", "name", "netdev", "kind", "pci_bus_id", "numa"}));
    EXPECT_EQ(x["index"].asInt(), n);
    EXPECT_EQ(x["name"].str, info.name);
    EXPECT_EQ(x["netdev"].str, info.netdev);
    EXPECT_EQ(x["kind"].str, info.kind == samNicIb ? "ib" : "eth");
    EXPECT_EQ(x["pci_bus_id"].str, info.pciBusId);
    EXPECT_EQ(x["numa"].asInt(), info.numa);
  }
}

}  // namespace

TEST(SamTopoCli, JsonMatchesApiPower8) {
  std::string f = dataFile("power8-4gpu-nvlink.xml");
  Topo t(loadOrFail(f));
  expectJsonMatchesApi("--json -i " + f, t.get());
}

TEST(SamTopoCli, JsonMatchesApiTwoNuma) {
  std::string f = dataFile("2numa-3gpu-ib.xml");
  Topo t(loadOrFail(f));
  expectJsonMatchesApi("-i " + f + " --json", t.get());
}

TEST(SamTopoCli, JsonMatchesApiThisMachine) {
  samTopology_t raw = nullptr;
  ASSERT_EQ(samTopologyDiscover(&raw), samSuccess) << samGetLastError();
  Topo t(raw);
  expectJsonMatchesApi("--json", t.get());
}

TEST(SamTopoCli, TextShowsMatrixAndLists) {
  CliRun r = samTopo("-i " + dataFile("power8-4gpu-nvlink.xml"));
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("NV2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0002:01:00.0"), std::string::npos) << r.out;
  r = samTopo("-i " + dataFile("2numa-3gpu-ib.xml"));
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("mlx5_0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PIX"), std::string::npos) << r.out;
  r = samTopo("");
  EXPECT_EQ(r.status, 0) << r.out;
}

TEST(SamTopoCli, BadFilesGiveOneLineAndNonZeroExit) {
  struct Case { std::string path, reason; } cases[] = {
      {tempPath("missing.xml"), "No such file or directory"},
      {SAM_TEST_DATA_DIR, "Is a directory"},
  };
  std::string garbage = tempPath("cli-garbage.xml");
  FILE* f = fopen(garbage.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("this is not xml\n", f);
  fclose(f);
  for (const Case& c : cases) {
    CliRun r = samTopo("-i " + c.path, true);
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_EQ(lines(r.out), 1) << r.out;
    EXPECT_NE(r.out.find(c.path), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(c.reason), std::string::npos) << r.out;
  }
  CliRun r = samTopo("--json -i " + garbage, true);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find(garbage), std::string::npos) << r.out;
  unlink(garbage.c_str());
}

TEST(SamTopoCli, BadFlags) {
  for (const char* args : {"--bogus", "-i", "--of", "--of pdf x.pdf", "--of xml"}) {
    CliRun r = samTopo(args, true);
    EXPECT_EQ(r.status, 2) << args << ": " << r.out;
    EXPECT_EQ(lines(r.out), 1) << args << ": " << r.out;
  }
  CliRun r = samTopo("-h");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--json"), std::string::npos);
}

TEST(SamTopoCli, ConfigListsEveryKnob) {
  CliRun r = samTopo("--config");
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("SAM_TIMEOUT_MS=30000"), std::string::npos) << r.out;
  int n = 0;
  ASSERT_EQ(samParamCount(&n), samSuccess);
  for (int i = 0; i < n; ++i) {
    samParamInfo_t p;
    ASSERT_EQ(samParamGet(i, &p), samSuccess);
    EXPECT_NE(r.out.find(std::string(p.name) + "="), std::string::npos) << p.name;
    EXPECT_NE(r.out.find(p.help), std::string::npos) << p.name;
  }
  CliRun set = samTopo("--config", false, "SAM_TIMEOUT_MS=1234 ");
  EXPECT_NE(set.out.find("SAM_TIMEOUT_MS=1234  (default \"30000\")"), std::string::npos) << set.out;
}

TEST(SamTopoCli, Version) {
  CliRun r = samTopo("-v");
  ASSERT_EQ(r.status, 0);
  std::string want = std::to_string(SAM_MAJOR) + "." + std::to_string(SAM_MINOR) + "." + std::to_string(SAM_PATCH);
  EXPECT_NE(r.out.find("sam-topo " + want), std::string::npos) << r.out;
  EXPECT_EQ(samTopo("--version").out, r.out);
}

TEST(SamTopoCli, SavesXmlForLaterLoads) {
  std::string src = dataFile("power8-4gpu-nvlink.xml"), out = tempPath("cli-saved.xml");
  CliRun r = samTopo("-i " + src + " --of xml " + out);
  ASSERT_EQ(r.status, 0);
  Topo a(loadOrFail(src)), b(loadOrFail(out));
  expectSameModel(a.get(), b.get());
  unlink(out.c_str());
}
