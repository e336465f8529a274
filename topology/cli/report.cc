#include "topology/cli/report.h"

#include <string>
#include <vector>

#include "topology/cli/json_writer.h"

namespace samtopo {
namespace {

#define RETURN_IF_FAILED(expr)          \
  do {                                  \
    samResult_t r_ = (expr);            \
    if (r_ != samSuccess) return r_;    \
  } while (0)

struct Snapshot {
  int counts[samTopoNics + 1] = {};
  std::vector<samGpuInfo_t> gpus;
  std::vector<samNicInfo_t> nics;
  std::vector<samLinkInfo_t> links;     // gpus x gpus
  std::vector<samLinkInfo_t> nicLinks;  // gpus x nics
};

samResult_t snapshot(samTopology_t topo, Snapshot* s) {
  for (int w = samTopoPackages; w <= samTopoNics; ++w)
    RETURN_IF_FAILED(samTopologyGetCount(topo, samTopoCount_t(w), &s->counts[w]));
  const int ng = s->counts[samTopoGpus], nn = s->counts[samTopoNics];
  s->gpus.resize(size_t(ng));
  s->nics.resize(size_t(nn));
  for (int g = 0; g < ng; ++g) RETURN_IF_FAILED(samTopologyGetGpu(topo, g, &s->gpus[size_t(g)]));
  for (int n = 0; n < nn; ++n) RETURN_IF_FAILED(samTopologyGetNic(topo, n, &s->nics[size_t(n)]));
  s->links.resize(size_t(ng) * size_t(ng));
  s->nicLinks.resize(size_t(ng) * size_t(nn));
  for (int a = 0; a < ng; ++a) {
    for (int b = 0; b < ng; ++b) RETURN_IF_FAILED(samTopologyGetLink(topo, a, b, &s->links[size_t(a * ng + b)]));
    for (int n = 0; n < nn; ++n)
      RETURN_IF_FAILED(samTopologyGetNicLink(topo, a, n, &s->nicLinks[size_t(a * nn + n)]));
  }
  return samSuccess;
}

// "X", "NV18", "NVL" (count unknown), "PIX", ... as nvidia-smi topo -m.
std::string cell(const samLinkInfo_t& l) {
  if (l.linkClass == samLinkSelf) return "X";
  if (l.linkClass == samLinkNvl) return l.nvlinks > 0 ? "NV" + std::to_string(l.nvlinks) : "NVL";
  return samLinkClassString(l.linkClass);
}

std::string plural(int n, const char* noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

std::string orDash(const char* s) { return (s != nullptr && *s != '\0') ? s : "-"; }
std::string numa(int n) { return n >= 0 ? std::to_string(n) : "-"; }

void printMatrix(FILE* out, const Snapshot& s) {
  const int ng = s.counts[samTopoGpus], nn = s.counts[samTopoNics];
  fprintf(out, "%-7s", "");
  for (int b = 0; b < ng; ++b) fprintf(out, " %-6s", ("GPU" + std::to_string(b)).c_str());
  for (int n = 0; n < nn; ++n) fprintf(out, " %-6s", ("NIC" + std::to_string(n)).c_str());
  fprintf(out, " %s\n", "NUMA");
  for (int a = 0; a < ng; ++a) {
    fprintf(out, "%-7s", ("GPU" + std::to_string(a)).c_str());
    for (int b = 0; b < ng; ++b) fprintf(out, " %-6s", cell(s.links[size_t(a * ng + b)]).c_str());
    for (int n = 0; n < nn; ++n) fprintf(out, " %-6s", cell(s.nicLinks[size_t(a * nn + n)]).c_str());
    fprintf(out, " %s\n", numa(s.gpus[size_t(a)].numa).c_str());
  }
  fprintf(out,
          "\nLegend:\n"
          "  X    = self\n"
          "  NV#  = NVLink with # links (directly or through NVSwitches); NVL = count unknown\n"
          "  PIX  = at most one PCIe bridge (one switch)\n"
          "  PXB  = several PCIe bridges, no host bridge\n"
          "  PHB  = through a PCIe host bridge (one CPU)\n"
          "  NODE = between PCIe host bridges of one NUMA node\n"
          "  SYS  = across NUMA nodes (SMP interconnect)\n");
}

void printBandwidths(FILE* out, const Snapshot& s) {
  const int ng = s.counts[samTopoGpus];
  fprintf(out, "\nEstimated one-way bandwidth between GPUs, GB/s:\n%-7s", "");
  for (int b = 0; b < ng; ++b) fprintf(out, " %7s", ("GPU" + std::to_string(b)).c_str());
  fputc('\n', out);
  for (int a = 0; a < ng; ++a) {
    fprintf(out, "%-7s", ("GPU" + std::to_string(a)).c_str());
    for (int b = 0; b < ng; ++b) {
      if (a == b) {
        fprintf(out, " %7s", "-");
      } else {
        fprintf(out, " %7.1f", s.links[size_t(a * ng + b)].bandwidthGBps);
      }
    }
    fputc('\n', out);
  }
}

}  // namespace

samResult_t printText(FILE* out, samTopology_t topo, const std::string& source) {
  Snapshot s;
  RETURN_IF_FAILED(snapshot(topo, &s));
  const int ng = s.counts[samTopoGpus], nn = s.counts[samTopoNics];
  fprintf(out, "Topology of %s\n", source.c_str());
  fprintf(out, "  %s, %s, %s, %s, %s, %s\n\n", plural(s.counts[samTopoPackages], "package").c_str(),
          plural(s.counts[samTopoNumaNodes], "NUMA node").c_str(), plural(s.counts[samTopoCores], "core").c_str(),
          plural(s.counts[samTopoPus], "PU").c_str(), plural(ng, "GPU").c_str(), plural(nn, "NIC").c_str());
  if (ng > 0) {
    printMatrix(out, s);
    printBandwidths(out, s);
    fprintf(out, "\nGPUs:\n  %-5s %-13s %-4s %-5s %-12s %s\n", "GPU", "PCI bus id", "NUMA", "CUDA", "nearest NIC",
            "name / UUID");
    for (const samGpuInfo_t& g : s.gpus) {
      std::string nic = "-";
      if (g.nearestNic >= 0) {
        const samNicInfo_t& n = s.nics[size_t(g.nearestNic)];
        nic = "NIC" + std::to_string(g.nearestNic) + " " + n.name + " (" +
              cell(s.nicLinks[size_t(g.index * nn + g.nearestNic)]) + ")";
      }
      fprintf(out, "  GPU%-2d %-13s %-4s %-5s %-20s %s%s%s\n", g.index, g.pciBusId, numa(g.numa).c_str(),
              g.cudaIndex >= 0 ? std::to_string(g.cudaIndex).c_str() : "-", nic.c_str(), orDash(g.name).c_str(),
              g.uuid[0] ? "  " : "", g.uuid);
    }
  } else {
    fprintf(out, "No NVIDIA GPUs.\n");
  }
  if (nn > 0) {
    fprintf(out, "\nNICs:\n  %-5s %-12s %-4s %-13s %-4s %s\n", "NIC", "name", "kind", "PCI bus id", "NUMA", "netdev");
    for (const samNicInfo_t& n : s.nics)
      fprintf(out, "  NIC%-2d %-12s %-4s %-13s %-4s %s\n", n.index, n.name, n.kind == samNicIb ? "ib" : "eth",
              orDash(n.pciBusId).c_str(), numa(n.numa).c_str(), orDash(n.netdev).c_str());
  } else {
    fprintf(out, "\nNo NICs.\n");
  }
  return samSuccess;
}

samResult_t printJson(FILE* out, samTopology_t topo) {
  Snapshot s;
  RETURN_IF_FAILED(snapshot(topo, &s));
  JsonWriter j(out);
  j.beginObject();
  j.key("packages"); j.value(s.counts[samTopoPackages]);
  j.key("numa_nodes"); j.value(s.counts[samTopoNumaNodes]);
  j.key("cores"); j.value(s.counts[samTopoCores]);
  j.key("pus"); j.value(s.counts[samTopoPus]);
  j.key("gpus");
  j.beginArray();
  for (const samGpuInfo_t& g : s.gpus) {
    j.beginObject();
    j.key("index"); j.value(g.index);
    j.key("name"); j.value(g.name);
    j.key("pci_bus_id"); j.value(g.pciBusId);
    j.key("numa"); j.value(g.numa);
    j.key("nearest_nic"); j.value(g.nearestNic);
    j.key("uuid"); j.value(g.uuid);
    j.key("cuda_index"); j.value(g.cudaIndex);
    j.endObject();
  }
  j.endArray();
  j.key("nics");
  j.beginArray();
  for (const samNicInfo_t& n : s.nics) {
    j.beginObject();
    j.key("index"); j.value(n.index);
    j.key("name"); j.value(n.name);
    j.key("netdev"); j.value(n.netdev);
    j.key("kind"); j.value(n.kind == samNicIb ? "ib" : "eth");
    j.key("pci_bus_id"); j.value(n.pciBusId);
    j.key("numa"); j.value(n.numa);
    j.endObject();
  }
  j.endArray();
  j.key("links");
  j.beginArray();
  const int ng = s.counts[samTopoGpus];
  for (int a = 0; a < ng; ++a) {
    j.beginArray();
    for (int b = 0; b < ng; ++b) {
      const samLinkInfo_t& l = s.links[size_t(a * ng + b)];
      j.beginObject();
      j.key("class"); j.value(samLinkClassString(l.linkClass));
      j.key("nvlinks"); j.value(l.nvlinks);
      j.key("bandwidth_gbps"); j.value(l.bandwidthGBps);
      j.endObject();
    }
    j.endArray();
  }
  j.endArray();
  j.endObject();
  j.finish();
  return samSuccess;
}

samResult_t printConfig(FILE* out) {
  int count = 0;
  RETURN_IF_FAILED(samParamCount(&count));
  fprintf(out, "# libsam environment knobs: NAME=current value  (default)  meaning\n");
  for (int i = 0; i < count; ++i) {
    samParamInfo_t p;
    RETURN_IF_FAILED(samParamGet(i, &p));
    fprintf(out, "%s=%s  (default \"%s\")  %s\n", p.name, p.value, p.defaultValue, p.help);
  }
  return samSuccess;
}

}  // namespace samtopo
