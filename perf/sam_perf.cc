// sam-perf: the data path of one MoE layer measured the way nccl-tests
// measures collectives. Without a launcher it starts --ranks local processes
// of itself; under torchrun, mpirun or SAM_* variables it is one rank.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "sam_perf_args.h"
#include "sam_perf_bench.h"
#include "sam_perf_launcher.h"
#include "sam_perf_ranks.h"
#include "sam_perf_report.h"

using namespace samperf;

namespace {

// The demo: one short, readable comparison that finishes in seconds on two cores.
void applyDemoSettings(Options* opt) {
  opt->topks = {2, 4, 8};
  opt->preset = "sam";
  opt->minTokens = opt->maxTokens = 1024;
  opt->factor = 1;
  opt->experts = 64;
  opt->baseline = true;
  opt->ops = {"dispatch", "combine", "roundtrip"};
  opt->check = true;
  opt->iters = 3;
  opt->warmup = 0;  // the checked call before the loop warms up
}

std::string launcherName() {
  if (std::getenv("SAM_PERF_LAUNCHER")) return "sam-perf --ranks (SAM_* variables)";
  if (std::getenv("SAM_RANK")) return "SAM_* variables";
  if (std::getenv("OMPI_COMM_WORLD_RANK")) return "mpirun (OMPI_COMM_WORLD_*)";
  return "torchrun (RANK, WORLD_SIZE)";
}

int runAsRank(Options opt) {
  if (opt.demo) applyDemoSettings(&opt);
  Ranks ranks(opt.timeoutMs);
  const bool printer = ranks.rank() == 0;
  RunInfo info;
  info.nranks = ranks.size();
  info.nodes = ranks.nodes();
  info.preset = opt.preset;
  info.launcher = launcherName();
  info.rankLines = ranks.describeRanks();
  if (printer && !opt.demo) printRunHeader(opt, info);

  std::vector<int> topks = opt.topks.empty() ? std::vector<int>{0} : opt.topks;
  std::vector<PointResult> all;
  for (int k : topks) {
    LayerSetup setup = makeLayerSetup(opt, ranks, k);
    if (printer && !opt.demo) printTableHeader(opt, setup.topk, ranks.size());
    std::vector<PointResult> points;
    for (int64_t tokens : sweepSizes(opt)) {
      points.push_back(runPoint(ranks, opt, setup, tokens));
      if (printer && !opt.demo) printRow(opt, points.back());
    }
    if (printer && !opt.demo) printTraffic(opt, points, ranks.size());
    all.insert(all.end(), points.begin(), points.end());
  }
  int64_t wrong = 0;
  for (const PointResult& p : all) {
    for (const auto& kv : p.ops)
      if (kv.second.wrong > 0) wrong += kv.second.wrong;
    wrong += p.planCounterMismatches;  // traffic that is not counted right is a wrong result too
  }
  if (printer) {
    if (opt.demo) printDemo(opt, info, all);
    else printFooter(opt, all);
    if (!opt.jsonFile.empty() && !writeJson(opt.jsonFile, opt, info, all)) return 1;
  }
  ranks.barrier();
  return wrong == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  std::string error;
  if (!parseArgs(argc, argv, &opt, &error)) {
    if (error.empty()) {
      printUsage(argv[0]);
      return 0;
    }
    std::fprintf(stderr, "sam-perf: %s\n", error.c_str());
    return 2;
  }
  if (!launchedAsRank()) {
    LaunchSpec spec;
    spec.nranks = opt.demo ? 4 : opt.ranks;
    spec.nodes = opt.demo ? 2 : opt.nodes;
    spec.timeoutMs = opt.timeoutMs;
    return launchLocalRanks(argv, spec);
  }
  try {
    return runAsRank(opt);
  } catch (const std::exception& e) {
    const char* rank = std::getenv("SAM_RANK") ? std::getenv("SAM_RANK")
                       : std::getenv("RANK")   ? std::getenv("RANK")
                                               : std::getenv("OMPI_COMM_WORLD_RANK");
    std::fprintf(stderr, "sam-perf: rank %s: %s\n", rank ? rank : "?", e.what());
    return 3;
  }
}
