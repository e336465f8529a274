#include "sam_perf_report.h"

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace samperf {

namespace {

struct Group {
  std::string op, impl;
  std::string key() const { return op + "/" + impl; }
};

std::vector<Group> groups(const Options& opt) {
  std::vector<Group> g;
  for (const std::string& op : opt.ops) {
    g.push_back({op, "sam"});
    // The baseline routes with SAM's own routes: no route column of its own.
    if (opt.baseline && op != "route") g.push_back({op, "base"});
  }
  return g;
}

std::string centred(const std::string& s, size_t width) {
  if (s.size() >= width) return s;
  size_t left = (width - s.size()) / 2;
  return std::string(left, ' ') + s + std::string(width - s.size() - left, ' ');
}

std::string wrongText(int64_t w) { return w < 0 ? "N/A" : std::to_string(w); }

double mb(double bytes) { return bytes / 1e6; }

}  // namespace

void printRunHeader(const Options& opt, const RunInfo& info) {
  std::printf("# sam-perf (libsam %d.%d.%d): MoE route, dispatch and combine, host backend\n", SAM_MAJOR,
              SAM_MINOR, SAM_PATCH);
  std::printf("# nRanks %d nNodes %d launcher: %s\n", info.nranks, info.nodes, info.launcher.c_str());
  for (const std::string& line : info.rankLines) std::printf("#  %s\n", line.c_str());
  std::printf("# preset %s  experts %d (%d per rank)  hidden %d  type %s  seed %" PRIu64 "\n",
              info.preset.c_str(), opt.experts, opt.experts / info.nranks, opt.hidden, dtypeName(opt.dtype),
              opt.seed);
  std::printf("# tokens per rank: %" PRId64 " to %" PRId64 ", factor %" PRId64
              "  warmup iters: %d  iters: %d  validation: %d  baseline: %d  memcpy: %d\n",
              opt.minTokens, opt.maxTokens, opt.factor, opt.warmup, opt.iters, opt.check ? 1 : 0,
              opt.baseline ? 1 : 0, opt.memcpyCeiling ? 1 : 0);
  std::printf("# bytes = mean per rank of one hidden vector per (token, destination rank); busbw = algbw * (R-1)/R;\n"
              "# roundtrip = plan + dispatch + experts + combine, counted 2 x bytes (docs/PERF.md)\n");
  std::fflush(stdout);
}

namespace {

std::string fmt(const char* f, const char* a, const char* b, const char* c, const char* d) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

}  // namespace

void printTableHeader(const Options& opt, int topk, int nranks) {
  std::printf("#\n# k = %d experts per token, %d ranks\n", topk, nranks);
  std::string line1 = "#" + std::string(33, ' ');
  std::string line2 = fmt("#%10s %12s %9s%s", "tokens", "bytes", "type", "");
  std::string line3 = "#" + std::string(33, ' ');
  for (const Group& g : groups(opt)) {
    line1 += centred(g.op + " (" + g.impl + ")", 35);
    line2 += fmt(" %10s %7s %7s %7s", "time", "algbw", "busbw", "#wrong");
    line3 += fmt(" %10s %7s %7s %7s", "(us)", "(GB/s)", "(GB/s)", "");
  }
  if (opt.memcpyCeiling) {
    line1 += centred("memcpy", 19);
    line2 += fmt(" %10s %7s%s%s", "time", "algbw", "", "");
    line3 += fmt(" %10s %7s%s%s", "(us)", "(GB/s)", "", "");
  }
  std::printf("%s\n%s\n%s\n", line1.c_str(), line2.c_str(), line3.c_str());
  std::fflush(stdout);
}

void printRow(const Options& opt, const PointResult& p) {
  std::printf(" %10" PRId64 " %12.0f %9s", p.tokens, p.bytes, dtypeName(p.dtype));
  for (const Group& g : groups(opt)) {
    auto it = p.ops.find(g.key());
    if (it == p.ops.end() || !it->second.ran) {
      std::printf(" %10s %7s %7s %7s", "-", "-", "-", "-");
      continue;
    }
    const OpResult& r = it->second;
    std::printf(" %10.1f %7.2f %7.2f %7s", r.timeUs, r.algbw, r.busbw, wrongText(r.wrong).c_str());
  }
  if (opt.memcpyCeiling) std::printf(" %10.1f %7.2f", p.memcpyCeiling.timeUs, p.memcpyCeiling.algbw);
  std::printf("\n");
  std::fflush(stdout);
}

void printTraffic(const Options& opt, const std::vector<PointResult>& points, int nranks) {
  if (points.empty()) return;
  const double rowBytes = static_cast<double>(opt.hidden) * dtypeSize(opt.dtype);
  std::printf("#\n# Measured traffic of one call, all ranks (samCommGetTraffic): MB that left their rank through\n"
              "# shared memory (same node) and UCX (between nodes); vec/tok = hidden vectors sent per token,\n"
              "# to itself included; base/sam = ratio of the bytes that left the ranks\n");
  std::printf("#%10s %9s %14s %8s %8s", "tokens", "op", "sam: shm MB", "ucx MB", "vec/tok");
  if (opt.baseline) std::printf(" %14s %8s %8s %9s", "base: shm MB", "ucx MB", "vec/tok", "base/sam");
  std::printf("\n");
  for (const PointResult& p : points) {
    const double tokensAll = static_cast<double>(p.tokens) * nranks;
    auto perToken = [&](const TrafficResult& t) {
      return tokensAll > 0 ? (t.remoteBytes() + t.selfBytes) / rowBytes / tokensAll : 0.0;
    };
    for (const std::string& op : opt.ops) {
      auto s = p.traffic.find(op + "/sam");
      if (s == p.traffic.end()) continue;
      std::printf("# %9" PRId64 " %9s %14.3f %8.3f %8.2f", p.tokens, op.c_str(), mb(s->second.shmBytes),
                  mb(s->second.ucxBytes), perToken(s->second));
      auto b = p.traffic.find(op + "/base");
      if (b != p.traffic.end()) {
        double ratio = s->second.remoteBytes() > 0 ? b->second.remoteBytes() / s->second.remoteBytes() : 0;
        std::printf(" %14.3f %8.3f %8.2f %9.2f", mb(b->second.shmBytes), mb(b->second.ucxBytes),
                    perToken(b->second), ratio);
      }
      std::printf("\n");
    }
  }
  std::fflush(stdout);
}

int64_t printFooter(const Options& opt, const std::vector<PointResult>& points) {
  int64_t wrong = 0;
  double busSum = 0;
  int busCount = 0;
  for (const PointResult& p : points) {
    for (const auto& kv : p.ops) {
      if (kv.second.wrong > 0) wrong += kv.second.wrong;
      if (kv.first == "dispatch/sam" || kv.first == "combine/sam") {
        busSum += kv.second.busbw;
        ++busCount;
      }
    }
  }
  std::printf("#\n# Out of bounds values : %" PRId64 " %s\n", wrong, wrong == 0 ? "OK" : "FAILED");
  std::printf("# Avg bus bandwidth    : %g \n", busCount ? busSum / busCount : 0.0);
  // Per op and implementation, and against the memcpy ceiling of the same bytes.
  for (const std::string& op : {std::string("dispatch"), std::string("combine"), std::string("roundtrip")}) {
    for (const char* impl : {"sam", "base"}) {
      double sum = 0, ceiling = 0;
      int n = 0;
      std::string perSize;  // the ratio at each size: small sizes fit in caches, large ones do not
      for (const PointResult& p : points) {
        auto it = p.ops.find(op + "/" + impl);
        if (it == p.ops.end() || !it->second.ran) continue;
        sum += it->second.algbw;
        ceiling += p.memcpyCeiling.algbw;
        ++n;
        if (p.memcpyCeiling.algbw > 0) {
          char buf[32];
          std::snprintf(buf, sizeof(buf), "%s%.0f%%", perSize.empty() ? "" : " ", 100.0 * it->second.algbw / p.memcpyCeiling.algbw);
          perSize += buf;
        }
      }
      if (!n) continue;
      std::printf("#   %-9s %-4s avg algbw %8.2f GB/s", op.c_str(), impl, sum / n);
      if (opt.memcpyCeiling && ceiling > 0 && op != "roundtrip")
        std::printf("  = %5.1f%% of memcpy of the same bytes (%.2f GB/s); per size: %s", 100.0 * sum / ceiling,
                    ceiling / n, perSize.c_str());
      std::printf("\n");
    }
  }
  if (opt.baseline) {
    for (const std::string& op : {std::string("dispatch"), std::string("combine"), std::string("roundtrip")}) {
      double s = 0, b = 0;
      for (const PointResult& p : points) {
        auto is = p.ops.find(op + "/sam"), ib = p.ops.find(op + "/base");
        if (is == p.ops.end() || ib == p.ops.end()) continue;
        s += is->second.timeUs;
        b += ib->second.timeUs;
      }
      if (s > 0) std::printf("#   %-9s time baseline / SAM: %.2fx (summed over sizes)\n", op.c_str(), b / s);
    }
  }
  int64_t checks = 0, mismatches = 0;
  for (const PointResult& p : points) {
    checks += p.planCounterChecks;
    mismatches += p.planCounterMismatches;
  }
  if (checks > 0)
    std::printf("# samPlanGetTraffic vs samCommGetTraffic: %" PRId64 " of %" PRId64 " SAM calls disagree %s\n",
                mismatches, checks, mismatches == 0 ? "OK" : "FAILED");
  for (const PointResult& p : points)
    if (p.routeNearTies > 0)
      std::printf("# route k=%d tokens=%" PRId64 ": %" PRId64 " near-tie tokens not compared\n", p.topk, p.tokens,
                  p.routeNearTies);
  std::fflush(stdout);
  return wrong;
}

void printDemo(const Options& opt, const RunInfo& info, const std::vector<PointResult>& points) {
  std::printf("# sam-perf --demo: %d ranks on %d fake nodes (SAM_HOST_ID), %d experts (%d per rank),\n"
              "# %" PRId64 " tokens per rank, hidden %d, %s, preset sam. SAM sends each token ONCE to its\n"
              "# rank, where k experts see it; the baseline (top-k all-to-all, Megatron style) sends every\n"
              "# (token, expert) pair. Same routes for both; every output checked against a dense reference.\n#\n",
              info.nranks, info.nodes, opt.experts, opt.experts / info.nranks, opt.minTokens, opt.hidden,
              dtypeName(opt.dtype));
  std::printf("#  k  dispatch + combine (ms)    layer round trip (ms)    MB between ranks (all)    MB between nodes (UCX)  #wrong\n");
  std::printf("#        SAM  baseline speedup      SAM  baseline speedup      SAM  baseline  ratio      SAM  baseline  ratio\n");
  auto time = [](const PointResult& p, const char* key) {
    auto it = p.ops.find(key);
    return it == p.ops.end() ? 0.0 : it->second.timeUs / 1e3;
  };
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  for (const PointResult& p : points) {
    auto ss = p.traffic.find("dispatch/sam"), sb = p.traffic.find("dispatch/base");
    if (ss == p.traffic.end() || sb == p.traffic.end()) continue;
    int64_t wrong = 0;
    for (const auto& kv : p.ops)
      if (kv.second.wrong > 0) wrong += kv.second.wrong;
    double dcS = time(p, "dispatch/sam") + time(p, "combine/sam");
    double dcB = time(p, "dispatch/base") + time(p, "combine/base");
    double rtS = time(p, "roundtrip/sam"), rtB = time(p, "roundtrip/base");
    std::printf("  %2d %8.2f %9.2f %6.2fx %8.2f %9.2f %6.2fx %8.1f %9.1f %5.2fx %8.1f %9.1f %5.2fx %7" PRId64 "\n",
                p.topk, dcS, dcB, ratio(dcB, dcS), rtS, rtB, ratio(rtB, rtS), mb(ss->second.remoteBytes()),
                mb(sb->second.remoteBytes()), ratio(sb->second.remoteBytes(), ss->second.remoteBytes()),
                mb(ss->second.ucxBytes), mb(sb->second.ucxBytes), ratio(sb->second.ucxBytes, ss->second.ucxBytes),
                wrong);
  }
  std::printf("#\n# MB: one dispatch, read from libsam's counters (samCommGetTraffic), not computed.\n"
              "# Round trip = plan + dispatch + experts + combine, as a framework runs it every step.\n");
  std::printf("# Full tables: sam-perf --help, docs/PERF.md\n");
  std::fflush(stdout);
}

namespace {

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string num(double v) {
  std::ostringstream o;
  o.precision(10);
  o << v;
  return o.str();
}

}  // namespace

bool writeJson(const std::string& path, const Options& opt, const RunInfo& info,
               const std::vector<PointResult>& points) {
  std::ostringstream j;
  j << "{\n  \"tool\": \"sam-perf\",\n  \"version\": \"" << SAM_MAJOR << "." << SAM_MINOR << "." << SAM_PATCH
    << "\",\n  \"nranks\": " << info.nranks << ",\n  \"nodes\": " << info.nodes
    << ",\n  \"preset\": " << jsonString(info.preset) << ",\n  \"experts\": " << opt.experts
    << ",\n  \"hidden\": " << opt.hidden << ",\n  \"dtype\": " << jsonString(dtypeName(opt.dtype))
    << ",\n  \"iters\": " << opt.iters << ",\n  \"warmup\": " << opt.warmup
    << ",\n  \"check\": " << (opt.check ? "true" : "false") << ",\n  \"results\": [";
  bool first = true;
  for (const PointResult& p : points) {
    for (const auto& kv : p.ops) {
      const OpResult& r = kv.second;
      if (!r.ran) continue;
      std::string op = kv.first.substr(0, kv.first.find('/')), impl = kv.first.substr(kv.first.find('/') + 1);
      j << (first ? "\n" : ",\n") << "    {\"topk\": " << p.topk << ", \"tokens\": " << p.tokens
        << ", \"bytes\": " << num(p.bytes) << ", \"op\": " << jsonString(op) << ", \"impl\": " << jsonString(impl)
        << ", \"time_us\": " << num(r.timeUs) << ", \"algbw_gbps\": " << num(r.algbw)
        << ", \"busbw_gbps\": " << num(r.busbw) << ", \"wrong\": " << r.wrong;
      auto t = p.traffic.find(kv.first);
      if (t != p.traffic.end())
        j << ", \"traffic\": {\"self_bytes\": " << num(t->second.selfBytes)
          << ", \"shm_bytes\": " << num(t->second.shmBytes) << ", \"ucx_bytes\": " << num(t->second.ucxBytes)
          << ", \"other_bytes\": " << num(t->second.otherBytes)
          << ", \"remote_messages\": " << num(t->second.remoteMessages) << "}";
      if (op != "route" && p.memcpyCeiling.ran) j << ", \"memcpy_algbw_gbps\": " << num(p.memcpyCeiling.algbw);
      j << "}";
      first = false;
    }
  }
  j << "\n  ]\n}\n";
  std::ofstream f(path);
  f << j.str();
  if (!f) {
    std::fprintf(stderr, "sam-perf: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace samperf
