// What sam-perf prints (nccl-tests' layout: '#' header, one row per size,
// '# Avg bus bandwidth' footer), the traffic it measured, the demo's short
// table, and the JSON file of -J. Only rank 0 prints.
#pragma once

#include <string>
#include <vector>

#include "sam_perf_args.h"
#include "sam_perf_bench.h"

namespace samperf {

struct RunInfo {
  int nranks = 1;
  int nodes = 1;
  std::string preset;
  std::string launcher;  // "sam-perf --ranks", "torchrun", "mpirun", "SAM_* env"
  std::vector<std::string> rankLines;  // Ranks::describeRanks()
};

void printRunHeader(const Options& opt, const RunInfo& info);
// The table of one k: the column header, then printRow per size.
void printTableHeader(const Options& opt, int topk, int nranks);
void printRow(const Options& opt, const PointResult& p);
// Per size and op: bytes that left each rank (shm, ucx) and the baseline/SAM ratio.
void printTraffic(const Options& opt, const std::vector<PointResult>& points, int nranks);
// Totals: wrong elements, average bus bandwidth, share of the memcpy ceiling.
// Returns the total of wrong elements.
int64_t printFooter(const Options& opt, const std::vector<PointResult>& points);

void printDemo(const Options& opt, const RunInfo& info, const std::vector<PointResult>& points);

// -J FILE. Returns false (and says why on stderr) if the file cannot be written.
bool writeJson(const std::string& path, const Options& opt, const RunInfo& info,
               const std::vector<PointResult>& points);

}  // namespace samperf
