// sam-topo: what libsam sees of a machine, in the spirit of lstopo and
// ucx_info. Uses the public C API only (sam.h), which keeps that API
// complete. Every failure is one line on stderr and a non-zero exit.
#include <cstdio>
#include <cstring>
#include <string>

#include "sam.h"
#include "topology/cli/report.h"

namespace {

constexpr int kExitError = 1;  // the library failed (bad file, I/O)
constexpr int kExitUsage = 2;  // bad command line

void usage(FILE* out) {
  fprintf(out,
          "Usage: sam-topo [options]\n"
          "Describe this machine (or a saved one) as libsam sees it: a GPU x GPU\n"
          "matrix like `nvidia-smi topo -m`, GPU-NIC affinity and NUMA placement.\n"
          "\n"
          "  -i, --input FILE.xml   load a saved hwloc XML topology instead of this machine\n"
          "      --json             print the model as JSON (schema: docs/TOPOLOGY.md)\n"
          "      --of xml FILE      save the topology as hwloc XML (for -i, lstopo -i)\n"
          "      --config           list every SAM_* environment knob, its default and value\n"
          "  -v, --version          print the version\n"
          "  -h, --help             this help\n");
}

int usageError(const std::string& msg) {
  fprintf(stderr, "sam-topo: %s (see sam-topo --help)\n", msg.c_str());
  return kExitUsage;
}

int libraryError(samResult_t r) {
  const char* detail = samGetLastError();
  fprintf(stderr, "sam-topo: %s\n", (detail != nullptr && *detail != '\0') ? detail : samGetErrorString(r));
  return kExitError;
}

struct Options {
  std::string input;
  std::string saveTo;
  bool json = false;
  bool config = false;
  bool version = false;
  bool help = false;
};

// Returns 0 or the exit code of a usage error.
int parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](const char* what) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)what;
      return argv[++i];
    };
    if (a == "-i" || a == "--input") {
      const char* v = next("FILE");
      if (v == nullptr) return usageError(a + " needs a FILE.xml");
      o->input = v;
    } else if (a == "--json") {
      o->json = true;
    } else if (a == "--of") {
      const char* fmt = next("FORMAT");
      if (fmt == nullptr) return usageError("--of needs a format and a FILE (--of xml FILE)");
      if (strcmp(fmt, "xml") != 0) return usageError(std::string("--of: unknown format '") + fmt + "' (only xml)");
      const char* file = next("FILE");
      if (file == nullptr) return usageError("--of xml needs a FILE");
      o->saveTo = file;
    } else if (a == "--config") {
      o->config = true;
    } else if (a == "-v" || a == "--version") {
      o->version = true;
    } else if (a == "-h" || a == "--help") {
      o->help = true;
    } else {
      return usageError("unknown option '" + a + "'");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (int rc = parse(argc, argv, &o)) return rc;
  if (o.help) {
    usage(stdout);
    return 0;
  }
  if (o.version) {
    int v = 0;
    if (samResult_t r = samGetVersion(&v)) return libraryError(r);
    printf("sam-topo %d.%d.%d (libsam %d.%d.%d loaded)\n", SAM_MAJOR, SAM_MINOR, SAM_PATCH, v / 10000,
           (v / 100) % 100, v % 100);
    return 0;
  }
  if (o.config) {
    if (samResult_t r = samtopo::printConfig(stdout)) return libraryError(r);
    return 0;
  }

  samTopology_t topo = nullptr;
  samResult_t r = o.input.empty() ? samTopologyDiscover(&topo) : samTopologyLoadXml(o.input.c_str(), &topo);
  if (r != samSuccess) return libraryError(r);
  if (!o.saveTo.empty()) {
    r = samTopologySaveXml(topo, o.saveTo.c_str());
    if (r == samSuccess) fprintf(stderr, "sam-topo: saved to %s\n", o.saveTo.c_str());
  } else if (o.json) {
    r = samtopo::printJson(stdout, topo);
  } else {
    r = samtopo::printText(stdout, topo, o.input.empty() ? "this machine" : o.input);
  }
  int rc = r == samSuccess ? 0 : libraryError(r);
  samTopologyDestroy(topo);
  if (rc == 0 && fflush(stdout) != 0) {
    fprintf(stderr, "sam-topo: cannot write the output: %s\n", strerror(errno));
    return kExitError;
  }
  return rc;
}
