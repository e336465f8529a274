// route_bench: time of samRouteForward on one GPU for each preset and logits
// dtype, against the HBM floor measured in the same run (bytes of logits read
// + outputs written, over the device-to-device copy bandwidth) and, when given
// the output of route_torch.py, against the same routing in PyTorch eager.
//
//   route_bench [-t tokens] [-e experts] [-r ranks] [-n iters] [-w warmup] [--torch FILE] [--only PRESET]
//               [--logits uniform|normal|small]
//
// Logits: uniform in [-4, 4] (the default, the table of record's), normal
// N(0, 1), or small N(0, 0.1) (a router near its initialisation). The row
// kernel's time depends on them through the tokens it cannot prove and
// routes the exact way (SAM_DEBUG=TRACE logs their number).
//
// Three timings per case, after w warm-up calls:
//  - sync: the median over n calls of CUDA events around ONE call with stats
//    (the call synchronises its stream once, see docs/ROUTING.md);
//  - sync-free: out->status given and stats NULL, so calls only enqueue work:
//    CUDA events around 100 back-to-back calls, divided by 100; the median of
//    max(5, n / 20) such repetitions (what a training step sees);
//  - graph: the same 100 sync-free calls captured in a CUDA graph and
//    replayed (no host enqueue), listed after the table.
// Not a test: no pass/fail, just the table.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/half.h"
#include "sam.h"

namespace {

#define CK(x)                                                                          \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                    \
    }                                                                                  \
  } while (0)
#define SK(x)                                                                               \
  do {                                                                                      \
    samResult_t r_ = (x);                                                                   \
    if (r_ != samSuccess) {                                                                 \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, samGetLastError());    \
      std::exit(1);                                                                         \
    }                                                                                       \
  } while (0)

// Per-call time of `calls` back-to-back calls between two events, median of
// reps. hostUs (if given): the median host time per call to enqueue them; when
// it is close to the result, the host, not the GPU, set the pace.
template <typename F>
double backToBackUs(int warmup, int reps, int calls, cudaStream_t st, F&& body, double* hostUs = nullptr) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) body();
  CK(cudaStreamSynchronize(st));
  std::vector<float> ms;
  std::vector<double> host;
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(a, st));
    const auto h0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) body();
    host.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - h0).count() / calls);
    CK(cudaEventRecord(b, st));
    CK(cudaEventSynchronize(b));
    float t = 0;
    CK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t / calls);
  }
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  std::sort(host.begin(), host.end());
  if (hostUs) *hostUs = host[host.size() / 2];
  return ms[ms.size() / 2] * 1000.0;
}

// Per-call time of `calls` calls captured into one CUDA graph and replayed
// (median of reps replays): the calls without the host's enqueue, as a
// framework that captures its step in a graph runs them.
template <typename F>
double graphUs(int reps, int calls, cudaStream_t st, F&& body) {
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < calls; ++i) body();
  CK(cudaStreamEndCapture(st, &graph));
  CK(cudaGraphInstantiate(&exec, graph, 0));
  const double us = backToBackUs(2, reps, 1, st, [&] { CK(cudaGraphLaunch(exec, st)); }) / calls;
  CK(cudaGraphExecDestroy(exec));
  CK(cudaGraphDestroy(graph));
  return us;
}

// f() run with the environment variable `name` set to `value`, then put back
// as it was (the library reads its SAM_ROUTE_* knobs on every call).
template <typename F>
auto withEnv(const char* name, const char* value, F&& f) {
  const char* before = std::getenv(name);
  const std::string saved = before ? before : "";
  setenv(name, value, 1);
  auto result = f();
  if (before) setenv(name, saved.c_str(), 1);
  else unsetenv(name);
  return result;
}

// Median time of single calls, each between its own two events.
template <typename F>
double medianUs(int warmup, int iters, cudaStream_t st, F&& body) {
  return backToBackUs(warmup, iters, 1, st, body);
}

uint16_t toBf16(float f) { return sam::floatToBf16(f); }

// "preset dtype microseconds" lines from route_torch.py.
std::map<std::string, double> readTorch(const char* path) {
  std::map<std::string, double> m;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string preset, dtype;
    double us;
    if (ss >> preset >> dtype >> us) m[preset + " " + dtype] = us;
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t T = 65536;
  int E = 256, R = 8, iters = 200, warmup = 20;
  const char* torchFile = nullptr;
  std::string only;  // --only PRESET: just that preset (both dtypes)
  std::string logitsKind = "uniform";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? argv[++i] : (std::fprintf(stderr, "%s needs a value\n", a.c_str()), std::exit(2), ""); };
    if (a == "-t") T = std::atoll(next());
    else if (a == "-e") E = std::atoi(next());
    else if (a == "-r") R = std::atoi(next());
    else if (a == "-n") iters = std::atoi(next());
    else if (a == "-w") warmup = std::atoi(next());
    else if (a == "--torch") torchFile = next();
    else if (a == "--only") only = next();
    else if (a == "--logits") logitsKind = next();
    else {
      std::fprintf(stderr, "usage: %s [-t tokens] [-e experts] [-r ranks] [-n iters] [-w warmup] [--torch FILE] [--only PRESET] [--logits uniform|normal|small]\n", argv[0]);
      return 2;
    }
  }
  if (logitsKind != "uniform" && logitsKind != "normal" && logitsKind != "small") {
    std::fprintf(stderr, "--logits: uniform, normal or small, not %s\n", logitsKind.c_str());
    return 2;
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t st;
  CK(cudaStreamCreate(&st));

  // The ceiling: device-to-device copy of 1 GiB (read + write counted).
  const size_t copyBytes = size_t(1) << 30;
  void *c0, *c1;
  CK(cudaMalloc(&c0, copyBytes));
  CK(cudaMalloc(&c1, copyBytes));
  CK(cudaMemset(c0, 1, copyBytes));
  const double copyUs = medianUs(3, 20, st, [&] { CK(cudaMemcpyAsync(c1, c0, copyBytes, cudaMemcpyDeviceToDevice, st)); });
  const double bw = 2.0 * copyBytes / (copyUs * 1e-6);  // bytes per second
  CK(cudaFree(c0));
  CK(cudaFree(c1));

  std::printf("# route_bench: %s, T=%lld E=%d R=%d, %s logits, median of %d calls after %d warm-up\n", prop.name,
              (long long)T, E, R, logitsKind.c_str(), iters, warmup);
  std::printf("# device copy bandwidth (read+write): %.0f GB/s\n", bw / 1e9);
  std::printf("# sync: one samRouteForward with expertIdx, weights, rankCounts, expertCounts and stats, its\n"
              "#       stream sync included (median of %d calls)\n", iters);
  std::printf("# free: the same outputs + status, stats NULL (no sync): 100 back-to-back calls / 100, median of\n"
              "#       %d repetitions; free-min: expertIdx, weights and status only; exact: free with\n"
              "#       SAM_ROUTE_EXACT=1 (every score by the reference's exp, weights bit-identical to the CPU's);\n"
              "#       enq: host time to enqueue one free call (near free: the host sets the pace, not the GPU)\n",
              std::max(5, iters / 20));
  std::printf("# floor: (logits bytes + idx/weights/counts bytes) / copy bandwidth; torch: route_torch.py\n");
  std::printf("#%12s %6s %3s %9s %9s %9s %9s %9s %8s %10s %10s %10s %8s\n", "preset", "dtype", "k", "sync(us)", "free(us)",
              "free-min", "exact(us)", "floor(us)", "free/flr", "torch(us)", "torch/free", "torch/sync", "enq(us)");

  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<float> u(-4, 4);
  std::normal_distribution<float> normal(0.0f, logitsKind == "small" ? 0.1f : 1.0f);
  std::vector<float> xf(T * E);
  for (auto& v : xf) v = logitsKind == "uniform" ? u(rng) : normal(rng);
  std::vector<uint16_t> xb(T * E);
  for (size_t i = 0; i < xb.size(); ++i) xb[i] = toBf16(xf[i]);
  void *dx32, *dx16;
  CK(cudaMalloc(&dx32, T * E * 4));
  CK(cudaMalloc(&dx16, T * E * 2));
  CK(cudaMemcpy(dx32, xf.data(), T * E * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dx16, xb.data(), T * E * 2, cudaMemcpyHostToDevice));
  std::vector<float> biasH(E);
  for (auto& v : biasH) v = u(rng) * 0.001f;
  float* bias;
  CK(cudaMalloc(&bias, E * 4));
  CK(cudaMemcpy(bias, biasH.data(), E * 4, cudaMemcpyHostToDevice));
  int32_t *idx, *rc, *ec, *status;
  float* w;
  CK(cudaMalloc(&status, 3 * 4));
  CK(cudaMalloc(&idx, T * 32 * 4));
  CK(cudaMalloc(&w, T * 32 * 4));
  CK(cudaMalloc(&rc, R * 4));
  CK(cudaMalloc(&ec, E * 4));

  const std::map<std::string, double> torch = torchFile ? readTorch(torchFile) : std::map<std::string, double>{};
  const char* names[] = {"switch", "gshard", "sam", "deepseek-v2", "deepseek-v3"};
  std::vector<std::string> graphLines;
  for (samDataType_t dt : {samFloat32, samBfloat16}) {
    const char* dtn = dt == samFloat32 ? "fp32" : "bf16";
    const void* logits = dt == samFloat32 ? dx32 : dx16;
    for (int p = 0; p < 5; ++p) {
      if (!only.empty() && only != names[p]) continue;
      samRouteConfig_t c;
      SK(samRouteConfigPreset((samRoutePreset_t)p, E, R, &c));
      if (p == samPresetDeepseekV3) c.selectionBias = bias;
      samRouteOutput_t full{idx, w, rc, ec, nullptr, nullptr};
      samRouteOutput_t freeFull{idx, w, rc, ec, nullptr, status};
      samRouteOutput_t freeMin{idx, w, nullptr, nullptr, nullptr, status};
      samRouteStats_t stats;
      // One synchronising call without stats (the path the sync-free calls
      // take): with SAM_DEBUG=TRACE its log line counts the re-routed tokens.
      SK(samRouteForward(&c, samMemCuda, logits, dt, T, &full, nullptr, st));
      const double us = medianUs(warmup, iters, st, [&] { SK(samRouteForward(&c, samMemCuda, logits, dt, T, &full, &stats, st)); });
      const int reps = std::max(5, iters / 20);
      double enqUs = 0.0;
      const double usFree = backToBackUs(warmup, reps, 100, st, [&] { SK(samRouteForward(&c, samMemCuda, logits, dt, T, &freeFull, nullptr, st)); }, &enqUs);
      const double usFreeMin = backToBackUs(warmup, reps, 100, st, [&] { SK(samRouteForward(&c, samMemCuda, logits, dt, T, &freeMin, nullptr, st)); });
      const double usGraph = graphUs(reps, 100, st, [&] { SK(samRouteForward(&c, samMemCuda, logits, dt, T, &freeFull, nullptr, st)); });
      const double usExact = withEnv("SAM_ROUTE_EXACT", "1", [&] {
        return backToBackUs(warmup, reps, 100, st, [&] { SK(samRouteForward(&c, samMemCuda, logits, dt, T, &freeFull, nullptr, st)); });
      });
      int32_t hs[3] = {-1, -1, -1};
      CK(cudaMemcpy(hs, status, sizeof hs, cudaMemcpyDeviceToHost));
      if (hs[0] != samSuccess) std::fprintf(stderr, "%s %s: status %d %d %d\n", names[p], dtn, hs[0], hs[1], hs[2]);
      const double bytes = double(T) * E * (dt == samFloat32 ? 4 : 2) + double(T) * c.topk * 8 + (E + R) * 4.0;
      const double floorUs = bytes / bw * 1e6;
      auto it = torch.find(std::string(names[p]) + " " + dtn);
      const double tus = it == torch.end() ? 0.0 : it->second;
      std::printf("%13s %6s %3d %9.1f %9.1f %9.1f %9.1f %9.1f %8.2f %10.1f %10.1f %10.1f %8.1f\n", names[p], dtn, c.topk, us, usFree,
                  usFreeMin, usExact, floorUs, usFree / floorUs, tus, tus > 0 ? tus / usFree : 0.0, tus > 0 ? tus / us : 0.0, enqUs);
      char graphLine[160];
      std::snprintf(graphLine, sizeof graphLine, "#%12s %6s %9.1f %8.2f", names[p], dtn, usGraph, usGraph / floorUs);
      graphLines.push_back(graphLine);
      if (p == samPresetSam && dt == samFloat32)
        std::printf("#   sam stats: pairs %lld, token-rank pairs %lld, expert balance %.4f, device balance %.4f, alignment %.1f\n",
                    (long long)stats.pairsRouted, (long long)stats.tokenRankPairs, stats.expertBalanceLoss,
                    stats.deviceBalanceLoss, stats.alignmentLoss);
    }
  }
  std::printf("# graph: the free calls captured in a CUDA graph (100 per graph) and replayed, us per call\n"
              "#       (no host enqueue: what a framework that captures its step sees)\n");
  std::printf("#%12s %6s %9s %8s\n", "preset", "dtype", "graph(us)", "graph/flr");
  for (const std::string& line : graphLines) std::printf("%s\n", line.c_str());
  // The general kernel on the same case (SAM_ROUTE_GENERIC=1), for comparison.
  {
    samRouteConfig_t c;
    SK(samRouteConfigPreset(samPresetSam, E, R, &c));
    samRouteOutput_t outFree{idx, w, rc, ec, nullptr, status};
    const double usFree = withEnv("SAM_ROUTE_GENERIC", "1", [&] {
      return backToBackUs(warmup, std::max(5, iters / 20), 100, st, [&] { SK(samRouteForward(&c, samMemCuda, dx32, samFloat32, T, &outFree, nullptr, st)); });
    });
    std::printf("# sam fp32 on the general kernel (SAM_ROUTE_GENERIC=1): sync-free %.1f us\n", usFree);
  }
  // Capacity mode (second pass: sort per rank), for the record.
  {
    samRouteConfig_t c;
    SK(samRouteConfigPreset(samPresetSam, E, R, &c));
    c.capacityFactor = 1.0f;
    samRouteOutput_t out{idx, w, rc, ec, nullptr, nullptr};
    samRouteOutput_t outFree{idx, w, rc, ec, nullptr, status};
    samRouteStats_t stats;
    const double us = medianUs(warmup, iters, st, [&] { SK(samRouteForward(&c, samMemCuda, dx16, samBfloat16, T, &out, &stats, st)); });
    const double usFree = backToBackUs(warmup, std::max(5, iters / 20), 100, st, [&] { SK(samRouteForward(&c, samMemCuda, dx16, samBfloat16, T, &outFree, nullptr, st)); });
    std::printf("# sam bf16 with capacity factor 1.0: sync %.1f us, sync-free %.1f us, %lld (token, rank) pairs dropped of %lld\n", us,
                usFree, (long long)stats.pairsDropped, (long long)(stats.pairsDropped + stats.tokenRankPairs));
  }
  return 0;
}
