// Command line of sam-perf, in the conventions of nccl-tests (-b/-e/-f sweep,
// -n/-w iterations, -c check, -d dtype, -J JSON) plus the MoE knobs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sam.h"

namespace samperf {

struct Options {
  // Sweep of token counts per rank: minTokens, minTokens*factor, ... <= maxTokens.
  int64_t minTokens = 1024;
  int64_t maxTokens = 8192;
  int64_t factor = 2;
  int iters = 20;
  int warmup = 5;
  bool check = true;
  samDataType_t dtype = samFloat32;
  std::string jsonFile;
  int hidden = 1024;
  int experts = 64;
  std::vector<int> topks;  // empty: the preset's k; several: one table per k
  std::string preset = "sam";
  std::vector<std::string> ops;  // route, plan, dispatch, combine, roundtrip (expanded from "all")
  bool baseline = false;
  bool memcpyCeiling = false;
  int ranks = 1;   // local processes to spawn when no launcher set our rank
  int nodes = 1;   // fake nodes (SAM_HOST_ID) among the spawned ranks
  bool demo = false;
  uint64_t seed = 12345;
  int timeoutMs = 0;  // 0: the library's default (SAM_TIMEOUT_MS)
  bool selfTestCorrupt = false;  // damage every checked output: tests the checker

  bool wants(const std::string& op) const;
};

// Parses argv into `opt`. On a bad flag returns false and sets `error` to a
// one-line message; on -h/--help returns false with `error` empty.
bool parseArgs(int argc, char** argv, Options* opt, std::string* error);
void printUsage(const char* prog);

// "1K" -> 1024, "2M" -> 2097152, "300" -> 300; false on garbage or < 0.
bool parseCount(const std::string& text, int64_t* value);

const char* dtypeName(samDataType_t dtype);  // "float", "bfloat16", "half"
size_t dtypeSize(samDataType_t dtype);

// The sweep: minTokens, *factor, ... up to maxTokens (factor 1: only min;
// 0 is followed by 1).
std::vector<int64_t> sweepSizes(const Options& opt);

}  // namespace samperf
