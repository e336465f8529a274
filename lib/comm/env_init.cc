// samCommInitFromEnv: rank, size and rendezvous from what the launcher set.
#include <cstdlib>
#include <string>

#include "bootstrap/net_if.h"
#include "comm/init.h"
#include "core/error.h"
#include "core/log.h"

namespace sam {
namespace {

const char* kFn = "samCommInitFromEnv";

std::string value(const std::function<const char*(const char*)>& get, const char* name) {
  const char* v = get(name);
  return v ? std::string(v) : std::string();
}

int intVar(const std::function<const char*(const char*)>& get, const char* name, int lo, int hi) {
  std::string s = value(get, name);
  if (s.empty()) throwError(samInvalidArgument, std::string(kFn) + ": " + name + " is not set");
  char* end = nullptr;
  long v = strtol(s.c_str(), &end, 10);
  if (*end != '\0' || v < lo || v > hi)
    throwError(samInvalidArgument, std::string(kFn) + ": " + name + "='" + s + "' is not an integer in " +
                                       std::to_string(lo) + " .. " + std::to_string(hi));
  return static_cast<int>(v);
}

void rootFromHostPort(const std::function<const char*(const char*)>& get, const char* name, LaunchEnv* e) {
  std::string why;
  if (!parseHostPort(value(get, name), &e->rootHost, &e->rootPort, &why))
    throwError(samInvalidArgument, std::string(kFn) + ": " + name + ": " + why);
}

}  // namespace

LaunchEnv readLaunchEnv(const std::function<const char*(const char*)>& get) {
  auto isSet = [&](const char* n) { return !value(get, n).empty(); };
  LaunchEnv e;
  // Our own variables win: they let a user override what a launcher set.
  if (isSet("SAM_RANK") || isSet("SAM_NRANKS")) {
    e.launcher = "sam";
    e.nranks = intVar(get, "SAM_NRANKS", 1, wire::kMaxRanks);
    e.rank = intVar(get, "SAM_RANK", 0, e.nranks - 1);
    if (!isSet("SAM_ROOT_ADDR")) throwError(samInvalidArgument, std::string(kFn) + ": SAM_ROOT_ADDR (host:port of rank 0) is not set");
    rootFromHostPort(get, "SAM_ROOT_ADDR", &e);
    if (isSet("SAM_LOCAL_RANK")) e.localRank = intVar(get, "SAM_LOCAL_RANK", 0, wire::kMaxRanks);
  } else if (isSet("RANK") && isSet("WORLD_SIZE")) {
    e.launcher = "torchrun";
    e.nranks = intVar(get, "WORLD_SIZE", 1, wire::kMaxRanks);
    e.rank = intVar(get, "RANK", 0, e.nranks - 1);
    if (isSet("LOCAL_RANK")) e.localRank = intVar(get, "LOCAL_RANK", 0, wire::kMaxRanks);
    if (!isSet("MASTER_ADDR")) throwError(samInvalidArgument, std::string(kFn) + ": torchrun environment without MASTER_ADDR");
    e.rootHost = value(get, "MASTER_ADDR");
    int masterPort = intVar(get, "MASTER_PORT", 1, 65535);
    // torchrun's own store holds MASTER_PORT; our rendezvous listens beside it.
    int offset = isSet("SAM_BOOTSTRAP_PORT_OFFSET") ? intVar(get, "SAM_BOOTSTRAP_PORT_OFFSET", 1, 65534) : 1;
    e.rootPort = masterPort + offset;
    if (e.rootPort > 65535)
      throwError(samInvalidArgument, std::string(kFn) + ": MASTER_PORT + SAM_BOOTSTRAP_PORT_OFFSET = " +
                                         std::to_string(e.rootPort) + " is not a port");
  } else if (isSet("OMPI_COMM_WORLD_RANK")) {
    e.launcher = "openmpi";
    e.nranks = intVar(get, "OMPI_COMM_WORLD_SIZE", 1, wire::kMaxRanks);
    e.rank = intVar(get, "OMPI_COMM_WORLD_RANK", 0, e.nranks - 1);
    if (isSet("OMPI_COMM_WORLD_LOCAL_RANK")) e.localRank = intVar(get, "OMPI_COMM_WORLD_LOCAL_RANK", 0, wire::kMaxRanks);
    if (!isSet("SAM_ROOT_ADDR"))
      throwError(samInvalidArgument, std::string(kFn) +
                                         ": Open MPI gives no rendezvous address: set SAM_ROOT_ADDR=host:port "
                                         "(an address of rank 0's host and a free port)");
    rootFromHostPort(get, "SAM_ROOT_ADDR", &e);
  } else {
    throwError(samInvalidArgument, std::string(kFn) +
                                       ": no launcher environment found: set RANK, WORLD_SIZE, MASTER_ADDR, "
                                       "MASTER_PORT (torchrun), OMPI_COMM_WORLD_* and SAM_ROOT_ADDR (Open MPI), "
                                       "or SAM_RANK, SAM_NRANKS, SAM_ROOT_ADDR");
  }
  if (isSet("SAM_SECRET")) {
    if (!parseSecretHex(value(get, "SAM_SECRET"), &e.secret))
      throwError(samInvalidArgument, std::string(kFn) + ": SAM_SECRET must be 32 hex digits");
    e.secretFromEnv = true;
  } else {
    // Weak by design: every process of the job can compute it, and so can
    // anyone who knows these variables. It still keeps two jobs apart.
    e.secret = deriveSecret("libsam-env-secret-v1|" + e.launcher + "|" + e.rootHost + ":" +
                            std::to_string(e.rootPort) + "|" + std::to_string(e.nranks) + "|" +
                            value(get, "TORCHELASTIC_RUN_ID") + "|" + value(get, "OMPI_MCA_ess_base_jobid"));
  }
  return e;
}

}  // namespace sam

extern "C" samResult_t samCommInitFromEnv(samComm_t* comm, const samConfig_t* config) {
  return sam::apiCall("samCommInitFromEnv", [&] {
    SAM_CHECK_PTR(comm, "samCommInitFromEnv");
    sam::LaunchEnv e = sam::readLaunchEnv([](const char* n) { return getenv(n); });
    sam::UniqueIdContents id;
    std::string why;
    if (!sam::resolveHost(e.rootHost, e.rootPort, &id.root, &why))
      return sam::fail(samInvalidArgument, std::string("samCommInitFromEnv: root address: ") + why);
    id.secret = e.secret;
    SAM_INFO(LOG_INIT, "samCommInitFromEnv: %s launcher, rank %d of %d (launcher's local rank %d), root %s%s",
             e.launcher.c_str(), e.rank, e.nranks, e.localRank, id.root.toString().c_str(), e.secretFromEnv ? "" : " (secret derived from the environment)");
    return sam::commInit(e.nranks, id, e.rank, config, "samCommInitFromEnv", comm);
  });
}
