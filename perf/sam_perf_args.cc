#include "sam_perf_args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace samperf {

bool Options::wants(const std::string& op) const {
  for (const std::string& o : ops)
    if (o == op) return true;
  return false;
}

bool parseCount(const std::string& text, int64_t* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || errno != 0 || v < 0) return false;
  int64_t mult = 1;
  std::string suffix(end);
  if (suffix == "K" || suffix == "k") mult = 1024;
  else if (suffix == "M" || suffix == "m") mult = 1024 * 1024;
  else if (suffix == "G" || suffix == "g") mult = INT64_C(1024) * 1024 * 1024;
  else if (!suffix.empty()) return false;
  if (v > INT64_MAX / mult) return false;
  *value = static_cast<int64_t>(v) * mult;
  return true;
}

const char* dtypeName(samDataType_t dtype) {
  switch (dtype) {
    case samFloat32: return "float";
    case samBfloat16: return "bfloat16";
    case samFloat16: return "half";
    default: return "?";
  }
}

size_t dtypeSize(samDataType_t dtype) { return dtype == samFloat32 ? 4 : 2; }

std::vector<int64_t> sweepSizes(const Options& opt) {
  std::vector<int64_t> sizes;
  for (int64_t t = opt.minTokens; t <= opt.maxTokens; t = t == 0 ? 1 : t * opt.factor) {
    sizes.push_back(t);
    if (opt.factor <= 1) break;
  }
  return sizes;
}

void printUsage(const char* prog) {
  std::printf(
      "Usage: %s [options]\n"
      "Measures SAM routing, dispatch, combine and the round trip of one MoE layer.\n"
      "  -b, --minbytes N     smallest token count per rank (K/M suffix), default 1K\n"
      "  -e, --maxbytes N     largest token count per rank, default 8K\n"
      "  -f, --stepfactor F   multiplicative factor of the sweep, default 2\n"
      "  -n, --iters N        timed iterations, default 20\n"
      "  -w, --warmup_iters N warm-up iterations, default 5\n"
      "  -c, --check 0/1      verify every output against a dense reference, default 1\n"
      "  -d, --datatype T     float, bfloat16 or half, default float\n"
      "  -J, --json FILE      also write the results as JSON\n"
      "  --hidden H           hidden size, default 1024\n"
      "  --experts E          number of experts, default 64\n"
      "  --topk K[,K...]      experts per token (a list gives one table per k)\n"
      "  --preset P           switch, gshard, sam, deepseek-v2, deepseek-v3; default sam\n"
      "  --op OP[,OP...]      route, plan, dispatch, combine, roundtrip or all (default)\n"
      "  --baseline           also run the top-k all-to-all baseline, side by side\n"
      "  --memcpy             also time a plain memcpy of the dispatched bytes (ceiling)\n"
      "  --ranks N            spawn N local ranks (ignored under torchrun/mpirun)\n"
      "  --nodes M            split the spawned ranks into M fake nodes (SAM_HOST_ID)\n"
      "  --seed S             seed of the random logits and tokens, default 12345\n"
      "  --timeout-ms MS      SAM_TIMEOUT_MS for the spawned ranks\n"
      "  --demo               4 ranks on 2 fake nodes, SAM against the baseline, k = 2, 4, 8\n"
      "  -h, --help           this text\n"
      "See docs/PERF.md for the columns and the bus bandwidth formula.\n",
      prog);
}

namespace {

bool parseInt(const std::string& text, int lo, int* out) {
  int64_t v = 0;
  if (!parseCount(text, &v) || v < lo || v > 1 << 30) return false;
  *out = static_cast<int>(v);
  return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, sep)) parts.push_back(item);
  return parts;
}

}  // namespace

bool parseArgs(int argc, char** argv, Options* opt, std::string* error) {
  std::string opArg = "all";
  error->clear();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool hasValue = false;
    // Accept both "--flag value" and "--flag=value".
    size_t eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      hasValue = true;
    }
    auto next = [&](std::string* v) {
      if (hasValue) { *v = value; return true; }
      if (i + 1 >= argc) { *error = "option " + a + " needs a value"; return false; }
      *v = argv[++i];
      return true;
    };
    auto bad = [&](const std::string& v) {
      *error = "option " + a + ": bad value '" + v + "'";
      return false;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      return false;
    } else if (a == "-b" || a == "--minbytes" || a == "--min-tokens") {
      if (!next(&v)) return false;
      if (!parseCount(v, &opt->minTokens)) return bad(v);
    } else if (a == "-e" || a == "--maxbytes" || a == "--max-tokens") {
      if (!next(&v)) return false;
      if (!parseCount(v, &opt->maxTokens)) return bad(v);
    } else if (a == "-f" || a == "--stepfactor") {
      if (!next(&v)) return false;
      if (!parseCount(v, &opt->factor) || opt->factor < 1) return bad(v);
    } else if (a == "-n" || a == "--iters") {
      if (!next(&v)) return false;
      if (!parseInt(v, 1, &opt->iters)) return bad(v);
    } else if (a == "-w" || a == "--warmup_iters") {
      if (!next(&v)) return false;
      if (!parseInt(v, 0, &opt->warmup)) return bad(v);
    } else if (a == "-c" || a == "--check") {
      if (!next(&v)) return false;
      if (v != "0" && v != "1") return bad(v);
      opt->check = v == "1";
    } else if (a == "-d" || a == "--datatype") {
      if (!next(&v)) return false;
      if (v == "float" || v == "fp32" || v == "float32") opt->dtype = samFloat32;
      else if (v == "bfloat16" || v == "bf16") opt->dtype = samBfloat16;
      else if (v == "half" || v == "fp16" || v == "float16") opt->dtype = samFloat16;
      else return bad(v);
    } else if (a == "-J" || a == "--json") {
      if (!next(&opt->jsonFile)) return false;
    } else if (a == "--hidden") {
      if (!next(&v)) return false;
      if (!parseInt(v, 1, &opt->hidden)) return bad(v);
    } else if (a == "--experts") {
      if (!next(&v)) return false;
      if (!parseInt(v, 1, &opt->experts)) return bad(v);
    } else if (a == "--topk") {
      if (!next(&v)) return false;
      opt->topks.clear();
      for (const std::string& k : split(v, ',')) {
        int kk = 0;
        if (!parseInt(k, 1, &kk)) return bad(v);
        opt->topks.push_back(kk);
      }
      if (opt->topks.empty()) return bad(v);
    } else if (a == "--preset") {
      if (!next(&opt->preset)) return false;
      samRoutePreset_t p;
      if (samRoutePresetFromName(opt->preset.c_str(), &p) != samSuccess) return bad(opt->preset);
    } else if (a == "--op") {
      if (!next(&opArg)) return false;
    } else if (a == "--baseline") {
      opt->baseline = true;
    } else if (a == "--memcpy") {
      opt->memcpyCeiling = true;
    } else if (a == "--ranks") {
      if (!next(&v)) return false;
      if (!parseInt(v, 1, &opt->ranks)) return bad(v);
    } else if (a == "--nodes") {
      if (!next(&v)) return false;
      if (!parseInt(v, 1, &opt->nodes)) return bad(v);
    } else if (a == "--seed") {
      if (!next(&v)) return false;
      int64_t s = 0;
      if (!parseCount(v, &s)) return bad(v);
      opt->seed = static_cast<uint64_t>(s);
    } else if (a == "--timeout-ms") {
      if (!next(&v)) return false;
      if (!parseInt(v, 1, &opt->timeoutMs)) return bad(v);
    } else if (a == "--self-test-corrupt") {
      opt->selfTestCorrupt = true;
    } else if (a == "--demo") {
      opt->demo = true;
    } else {
      *error = "unknown option " + a + " (try --help)";
      return false;
    }
  }
  opt->ops.clear();
  for (const std::string& op : split(opArg, ',')) {
    if (op == "all") {
      opt->ops = {"route", "plan", "dispatch", "combine", "roundtrip"};
    } else if (op == "route" || op == "plan" || op == "dispatch" || op == "combine" || op == "roundtrip") {
      opt->ops.push_back(op);
    } else {
      *error = "option --op: bad value '" + op + "' (route, plan, dispatch, combine, roundtrip, all)";
      return false;
    }
  }
  if (opt->maxTokens < opt->minTokens) {
    *error = "-e (max tokens) is smaller than -b (min tokens)";
    return false;
  }
  if (opt->nodes > opt->ranks && !opt->demo) {
    *error = "--nodes " + std::to_string(opt->nodes) + " exceeds --ranks " + std::to_string(opt->ranks);
    return false;
  }
  return true;
}

}  // namespace samperf
