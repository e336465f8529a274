// Save -> load gives the same model; the env knobs SAM_TOPO_FILE and
// SAM_TOPO_DUMP_FILE.
#include <cstdlib>
#include <string>

#include "support/scoped_env.h"
#include "tests/topology/topo_helpers.h"

using namespace samtest;

namespace {

void roundTrip(samTopology_t t, const std::string& name) {
  std::string path = tempPath(name);
  ASSERT_EQ(samTopologySaveXml(t, path.c_str()), samSuccess) << samGetLastError();
  Topo back(loadOrFail(path));
  ASSERT_NE(back.get(), nullptr);
  expectSameModel(t, back.get());
  unlink(path.c_str());
}

// Sets an environment variable for one scope.
using samtest::ScopedEnv;

}  // namespace

TEST(TopologyRoundTrip, Power8KeepsNvlinks) {
  Topo t(loadOrFail(dataFile("power8-4gpu-nvlink.xml")));
  ASSERT_NE(t.get(), nullptr);
  roundTrip(t.get(), "power8.xml");
  EXPECT_EQ(link(t.get(), 0, 1).nvlinks, 2);
}

TEST(TopologyRoundTrip, TwoNuma) {
  Topo t(loadOrFail(dataFile("2numa-3gpu-ib.xml")));
  ASSERT_NE(t.get(), nullptr);
  roundTrip(t.get(), "2numa.xml");
}

TEST(TopologyRoundTrip, ThisMachine) {
  samTopology_t raw = nullptr;
  ASSERT_EQ(samTopologyDiscover(&raw), samSuccess) << samGetLastError();
  Topo t(raw);
  roundTrip(t.get(), "live.xml");
}

TEST(TopologyEnv, TopoFileReplacesDiscovery) {
  ScopedEnv file("SAM_TOPO_FILE", dataFile("power8-4gpu-nvlink.xml"));
  samTopology_t raw = nullptr;
  ASSERT_EQ(samTopologyDiscover(&raw), samSuccess) << samGetLastError();
  Topo t(raw);
  EXPECT_EQ(count(t.get(), samTopoGpus), 4);
  EXPECT_EQ(link(t.get(), 2, 3).linkClass, samLinkNvl);
}

TEST(TopologyEnv, BadTopoFileFailsDiscovery) {
  std::string missing = tempPath("missing-topo.xml");
  ScopedEnv file("SAM_TOPO_FILE", missing);
  samTopology_t raw = nullptr;
  EXPECT_EQ(samTopologyDiscover(&raw), samSystemError);
  EXPECT_EQ(raw, nullptr);
  EXPECT_NE(std::string(samGetLastError()).find(missing), std::string::npos) << samGetLastError();
}

TEST(TopologyEnv, DumpFileIsWrittenAndReloads) {
  std::string dump = tempPath("dump.xml");
  ScopedEnv file("SAM_TOPO_FILE", dataFile("2numa-3gpu-ib.xml"));
  ScopedEnv out("SAM_TOPO_DUMP_FILE", dump);
  samTopology_t raw = nullptr;
  ASSERT_EQ(samTopologyDiscover(&raw), samSuccess) << samGetLastError();
  Topo t(raw);
  Topo back(loadOrFail(dump));
  ASSERT_NE(back.get(), nullptr);
  expectSameModel(t.get(), back.get());
  unlink(dump.c_str());
}

TEST(TopologyEnv, UnwritableDumpFileDoesNotFailDiscovery) {
  ScopedEnv file("SAM_TOPO_FILE", dataFile("2numa-3gpu-ib.xml"));
  ScopedEnv out("SAM_TOPO_DUMP_FILE", tempPath("no-such-dir") + "/dump.xml");
  samTopology_t raw = nullptr;
  ASSERT_EQ(samTopologyDiscover(&raw), samSuccess) << samGetLastError();
  samTopologyDestroy(raw);
}
