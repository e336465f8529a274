// Single-process tests of the communicator: config resolution, launcher
// environments, the cluster view, argument errors, a one-rank communicator.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "comm/cluster.h"
#include "comm/config.h"
#include "comm/init.h"
#include "core/error.h"
#include "support/scoped_env.h"

namespace {

using samtest::ScopedEnv;

sam::Error resolveError(const samConfig_t* cfg) {
  try {
    sam::resolveConfig(cfg, "samTest");
  } catch (const sam::Error& e) {
    return e;
  }
  return sam::Error{samSuccess, ""};
}

}  // namespace

TEST(CommConfig, DefaultsAndEnvKnobs) {
  ScopedEnv env{{"SAM_BACKEND", nullptr}, {"SAM_TIMEOUT_MS", nullptr}, {"SAM_CUDA_DEVICE", nullptr}};
  sam::CommConfig c = sam::resolveConfig(nullptr, "samTest");
  EXPECT_EQ(c.backend, samBackendHost);
  EXPECT_EQ(c.timeoutMs, 30000);
  EXPECT_EQ(c.cudaDevice, -1);
  {
    ScopedEnv e2{{"SAM_TIMEOUT_MS", "1234"}, {"SAM_CUDA_DEVICE", "3"}};
    samConfig_t cfg = SAM_CONFIG_INITIALIZER;
    c = sam::resolveConfig(&cfg, "samTest");
    EXPECT_EQ(c.timeoutMs, 1234);
    EXPECT_EQ(c.cudaDevice, 3);
    cfg.timeoutMs = 777;  // the config wins over the knob
    EXPECT_EQ(sam::resolveConfig(&cfg, "samTest").timeoutMs, 777);
  }
}

TEST(CommConfig, BadConfigsNameTheField) {
  ScopedEnv env{{"SAM_BACKEND", nullptr}, {"SAM_TIMEOUT_MS", nullptr}};
  samConfig_t cfg = SAM_CONFIG_INITIALIZER;
  cfg.magic = 0;
  sam::Error e = resolveError(&cfg);
  EXPECT_EQ(e.code, samInvalidArgument);
  EXPECT_NE(e.detail.find("SAM_CONFIG_INITIALIZER"), std::string::npos) << e.detail;

  cfg = SAM_CONFIG_INITIALIZER;
  cfg.size = 8;
  e = resolveError(&cfg);
  EXPECT_NE(e.detail.find("config->size"), std::string::npos) << e.detail;

  cfg = SAM_CONFIG_INITIALIZER;
  cfg.backend = 5;
  e = resolveError(&cfg);
  EXPECT_NE(e.detail.find("config->backend"), std::string::npos) << e.detail;

  cfg = SAM_CONFIG_INITIALIZER;
  cfg.timeoutMs = 0;
  e = resolveError(&cfg);
  EXPECT_NE(e.detail.find("config->timeoutMs"), std::string::npos) << e.detail;

  cfg = SAM_CONFIG_INITIALIZER;
  cfg.blocking = 0;
  EXPECT_EQ(resolveError(&cfg).code, samNotSupported);

  {
    ScopedEnv e2{{"SAM_BACKEND", "tpu"}};
    e = resolveError(nullptr);
    EXPECT_NE(e.detail.find("SAM_BACKEND"), std::string::npos) << e.detail;
  }
  {
    ScopedEnv e2{{"SAM_TIMEOUT_MS", "-5"}};
    e = resolveError(nullptr);
    EXPECT_NE(e.detail.find("SAM_TIMEOUT_MS"), std::string::npos) << e.detail;
  }
#if !SAM_HAVE_CUDA
  cfg = SAM_CONFIG_INITIALIZER;
  cfg.backend = samBackendCuda;
  EXPECT_EQ(resolveError(&cfg).code, samNotSupported);
#endif
}

namespace {

std::function<const char*(const char*)> envOf(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

sam::Error launchError(std::map<std::string, std::string> vars) {
  try {
    sam::readLaunchEnv(envOf(std::move(vars)));
  } catch (const sam::Error& e) {
    return e;
  }
  return sam::Error{samSuccess, ""};
}

}  // namespace

TEST(LaunchEnv, Torchrun) {
  sam::LaunchEnv e = sam::readLaunchEnv(envOf({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"},
                                               {"MASTER_ADDR", "host0"}, {"MASTER_PORT", "29500"}}));
  EXPECT_EQ(e.launcher, "torchrun");
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.nranks, 8);
  EXPECT_EQ(e.localRank, 1);
  EXPECT_EQ(e.rootHost, "host0");
  EXPECT_EQ(e.rootPort, 29501);  // beside torchrun's store
  EXPECT_FALSE(e.secretFromEnv);
  sam::LaunchEnv off = sam::readLaunchEnv(envOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"},
                                                 {"MASTER_PORT", "100"}, {"SAM_BOOTSTRAP_PORT_OFFSET", "7"}}));
  EXPECT_EQ(off.rootPort, 107);
  // The derived secret is the same for every rank of a job and differs between jobs.
  sam::LaunchEnv other = sam::readLaunchEnv(envOf({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"MASTER_ADDR", "host0"},
                                                   {"MASTER_PORT", "29500"}}));
  EXPECT_TRUE(sam::wire::secretsEqual(e.secret, other.secret));
  sam::LaunchEnv run2 = sam::readLaunchEnv(envOf({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"MASTER_ADDR", "host0"},
                                                  {"MASTER_PORT", "29500"}, {"TORCHELASTIC_RUN_ID", "r2"}}));
  EXPECT_FALSE(sam::wire::secretsEqual(e.secret, run2.secret));
  EXPECT_NE(launchError({{"RANK", "9"}, {"WORLD_SIZE", "8"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}).detail.find("RANK"),
            std::string::npos);
  EXPECT_NE(launchError({{"RANK", "1"}, {"WORLD_SIZE", "8"}, {"MASTER_ADDR", "h"}}).detail.find("MASTER_PORT"),
            std::string::npos);
}

TEST(LaunchEnv, OpenMpiNeedsRootAddress) {
  sam::Error e = launchError({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "4"}});
  EXPECT_EQ(e.code, samInvalidArgument);
  EXPECT_NE(e.detail.find("SAM_ROOT_ADDR"), std::string::npos) << e.detail;
  sam::LaunchEnv l = sam::readLaunchEnv(envOf({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "4"},
                                               {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"SAM_ROOT_ADDR", "[::1]:4000"}}));
  EXPECT_EQ(l.launcher, "openmpi");
  EXPECT_EQ(l.rootHost, "::1");
  EXPECT_EQ(l.rootPort, 4000);
}

TEST(LaunchEnv, SamVariablesWinAndSecretIsChecked) {
  sam::LaunchEnv l = sam::readLaunchEnv(envOf({{"SAM_RANK", "0"}, {"SAM_NRANKS", "2"}, {"SAM_ROOT_ADDR", "a:5"},
                                               {"RANK", "1"}, {"WORLD_SIZE", "9"}, {"MASTER_ADDR", "b"},
                                               {"MASTER_PORT", "6"}, {"SAM_SECRET", "000102030405060708090a0b0c0d0e0f"}}));
  EXPECT_EQ(l.launcher, "sam");
  EXPECT_EQ(l.nranks, 2);
  EXPECT_TRUE(l.secretFromEnv);
  EXPECT_EQ(l.secret[15], 0x0f);
  EXPECT_NE(launchError({{"SAM_RANK", "0"}, {"SAM_NRANKS", "2"}, {"SAM_ROOT_ADDR", "a:5"}, {"SAM_SECRET", "xyz"}})
                .detail.find("SAM_SECRET"),
            std::string::npos);
  EXPECT_NE(launchError({{"SAM_RANK", "0"}, {"SAM_NRANKS", "2"}}).detail.find("SAM_ROOT_ADDR"), std::string::npos);
  EXPECT_NE(launchError({{"SAM_RANK", "0"}, {"SAM_NRANKS", "2"}, {"SAM_ROOT_ADDR", "nohost"}}).detail.find("SAM_ROOT_ADDR"),
            std::string::npos);
  EXPECT_EQ(launchError({}).code, samInvalidArgument);
}

namespace {

std::vector<sam::RankInfo> infosFor(const std::vector<std::string>& hosts) {
  std::vector<sam::RankInfo> v;
  for (size_t r = 0; r < hosts.size(); ++r) {
    sam::RankInfo i;
    i.rank = static_cast<int>(r);
    i.nranks = static_cast<int>(hosts.size());
    i.timeoutMs = 1000;
    i.hostId = hosts[r];
    v.push_back(i);
  }
  return v;
}

}  // namespace

TEST(ClusterView, NodesNumberedByLowestRankAndLocalRanksInOrder) {
  sam::ClusterView v = sam::buildClusterView(infosFor({"b", "a", "b", "c", "a", "b"}));
  EXPECT_EQ(v.nodeCount(), 3);
  EXPECT_EQ(v.rankNode, (std::vector<int>{0, 1, 0, 2, 1, 0}));
  EXPECT_EQ(v.localRank, (std::vector<int>{0, 0, 1, 0, 1, 2}));
  EXPECT_EQ(v.nodeRanks[0], (std::vector<int>{0, 2, 5}));
  EXPECT_EQ(v.link(0, 0), samLinkSelf);
  EXPECT_EQ(v.link(0, 2), samLinkNode);
  EXPECT_EQ(v.link(2, 0), samLinkNode);
  EXPECT_EQ(v.link(0, 1), samLinkNet);
  EXPECT_EQ(v.link(3, 4), samLinkNet);
  EXPECT_TRUE(v.sameNode(1, 4));
  EXPECT_FALSE(v.sameNode(1, 3));
}

TEST(ClusterView, DisagreementNamesFieldAndRanks) {
  auto infos = infosFor({"a", "a", "a", "a"});
  EXPECT_EQ(sam::checkAgreement(infos), "");
  infos[2].timeoutMs = 5000;
  EXPECT_EQ(sam::checkAgreement(infos), "ranks disagree on timeoutMs: 1000 on ranks 0,1,3; 5000 on rank 2");
  infos[2].timeoutMs = 1000;
  infos[1].backend = samBackendCuda;
  EXPECT_EQ(sam::checkAgreement(infos), "ranks disagree on backend: cuda on rank 1; host on ranks 0,2,3");
  infos[3].nranks = 7;  // nranks is reported first
  EXPECT_NE(sam::checkAgreement(infos).find("ranks disagree on nranks"), std::string::npos);
}

TEST(RankInfo, RoundTripAndTruncation) {
  sam::RankInfo i;
  i.rank = 5;
  i.nranks = 9;
  i.backend = samBackendCuda;
  i.timeoutMs = 4321;
  i.cudaDevice = 2;
  i.hostId = std::string("host\0with nul", 13);
  i.gpuBusId = "0000:84:00.0";
  i.hostName = "h";
  i.pid = 77;
  i.cpus = 3;
  std::string bytes = sam::encodeRankInfo(i);
  sam::RankInfo back;
  std::string why;
  ASSERT_TRUE(sam::decodeRankInfo(bytes, &back, &why)) << why;
  EXPECT_EQ(back.hostId, i.hostId);
  EXPECT_EQ(back.gpuBusId, i.gpuBusId);
  EXPECT_EQ(back.timeoutMs, 4321);
  EXPECT_EQ(back.cpus, 3);
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(sam::decodeRankInfo(bytes.substr(0, n), &back, &why)) << n;
  EXPECT_FALSE(sam::decodeRankInfo(bytes + "x", &back, &why));
}

TEST(HostId, EnvOverridesAndDefaultHasBootId) {
  {
    ScopedEnv env{{"SAM_HOST_ID", "fake-node-7"}};
    EXPECT_EQ(sam::localHostId(), "fake-node-7");
  }
  ScopedEnv env{{"SAM_HOST_ID", nullptr}};
  std::string id = sam::localHostId();
  EXPECT_NE(id.find('/'), std::string::npos) << id;
  EXPECT_GT(id.size(), 10u) << id;
}

TEST(CommApi, ArgumentErrorsNameTheArgument) {
  ScopedEnv env{{"SAM_SOCKET_IFNAME", "lo"}};
  samUniqueId id;
  ASSERT_EQ(samGetUniqueId(&id), samSuccess) << samGetLastError();
  samComm_t comm = reinterpret_cast<samComm_t>(0x1);
  EXPECT_EQ(samCommInitRank(nullptr, 1, id, 0, nullptr), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("comm"), std::string::npos);
  EXPECT_EQ(samCommInitRank(&comm, 0, id, 0, nullptr), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("nranks"), std::string::npos);
  EXPECT_EQ(samCommInitRank(&comm, 2, id, 2, nullptr), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("rank is 2"), std::string::npos);
  samUniqueId zero = {};
  EXPECT_EQ(samCommInitRank(&comm, 1, zero, 0, nullptr), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("id is not a valid samUniqueId"), std::string::npos);
  samConfig_t bad = SAM_CONFIG_INITIALIZER;
  bad.magic = 1;
  EXPECT_EQ(samCommInitRank(&comm, 1, id, 0, &bad), samInvalidArgument);
  EXPECT_EQ(comm, reinterpret_cast<samComm_t>(0x1)) << "out-param written on failure";
  EXPECT_EQ(samGetUniqueId(nullptr), samInvalidArgument);
  int v;
  EXPECT_EQ(samCommRank(nullptr, &v), samInvalidArgument);
  EXPECT_EQ(samCommBarrier(nullptr), samInvalidArgument);
  EXPECT_EQ(samCommDestroy(nullptr), samSuccess);
  EXPECT_EQ(samCommAbort(nullptr), samSuccess);
  {
    ScopedEnv none{{"SAM_RANK", nullptr}, {"SAM_NRANKS", nullptr}, {"RANK", nullptr}, {"WORLD_SIZE", nullptr},
                   {"OMPI_COMM_WORLD_RANK", nullptr}};
    EXPECT_EQ(samCommInitFromEnv(&comm, nullptr), samInvalidArgument);
    EXPECT_NE(std::string(samGetLastError()).find("no launcher environment"), std::string::npos);
  }
}

TEST(CommApi, OneRankCommunicator) {
  ScopedEnv env{{"SAM_SOCKET_IFNAME", "lo"}, {"SAM_HOST_ID", "solo"}};
  samUniqueId id;
  ASSERT_EQ(samGetUniqueId(&id), samSuccess) << samGetLastError();
  samComm_t comm = nullptr;
  samConfig_t cfg = SAM_CONFIG_INITIALIZER;
  cfg.timeoutMs = 5000;
  ASSERT_EQ(samCommInitRank(&comm, 1, id, 0, &cfg), samSuccess) << samGetLastError();
  int v = -1;
  EXPECT_EQ(samCommNodeCount(comm, &v), samSuccess);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(samCommLocalSize(comm, &v), samSuccess);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(comm->cluster.hostIds[0], "solo");
  EXPECT_EQ(comm->config.timeoutMs, 5000);
  EXPECT_EQ(comm->traffic.nranks(), 1);
  EXPECT_EQ(samCommBarrier(comm), samSuccess);
  std::vector<std::string> all;
  EXPECT_EQ(comm->bootstrap->allgather("x", &all), samSuccess);
  EXPECT_EQ(all, std::vector<std::string>{"x"});
  samLinkClass_t link;
  EXPECT_EQ(samCommLinkClass(comm, 0, -1, &link), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("rankB"), std::string::npos);
  EXPECT_EQ(samCommLinkClass(comm, 0, 0, nullptr), samInvalidArgument);
  EXPECT_EQ(samCommDestroy(comm), samSuccess);
}
