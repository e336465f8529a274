// The CUDA backend of routing. One warp routes one token (persistent grid);
// the logits are read once. Results go to a device workspace, then a commit
// kernel copies them to the caller's buffers only if every logit was finite,
// so nothing is written on error (docs/ROUTING.md, "CUDA design").
// This file holds the host side (workspace, launches, the entry points); the
// kernels are in the route_cuda_*.cuh parts and route_fast.cuh, included below
// into this one translation unit.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"
#include "route/route_cuda.h"
#include "route/route_grid.h"
#include "route/route_keys.h"
#include "route/route_math.h"
#include "route/route_ref.h"

namespace sam {
namespace route {
namespace {

#include "route/route_cuda_device.cuh"

#define ROUTE_CUDA(call)                                                                              \
  do {                                                                                                \
    cudaError_t err_ = (call);                                                                        \
    if (err_ != cudaSuccess)                                                                          \
      throwError(samCudaError, std::string(fn) + ": " #call " failed: " + cudaGetErrorString(err_)); \
  } while (0)

#include "route/route_cuda_general.cuh"
#include "route/route_fast.cuh"
#include "route/route_approx.cuh"
#include "route/route_rows.cuh"
#include "route/route_cuda_capacity.cuh"
#include "route/route_cuda_commit.cuh"
#include "route/route_cuda_backward.cuh"
#include "route/route_cuda_bounds.cuh"

// ---- workspace -----------------------------------------------------------------

// Device scratch and a pinned host buffer per device, grown on demand and kept
// (routing is called every layer of every step). One call at a time per process.
// A call that does not synchronise (out->status) leaves work in flight that
// uses the workspace: `done`, recorded after each call's last use, orders the
// next call after it (cudaStreamWaitEvent, also across streams), and the host
// waits for it before freeing or overwriting the buffers.
struct Workspace {
  void* dev = nullptr;
  size_t devBytes = 0;
  void* host = nullptr;
  size_t hostBytes = 0;
  cudaEvent_t done = nullptr;
  // Forward calls keep their small region (flags, sums, counts) in one of
  // two slots of regionBytes each, at the start of dev: a sync-free call
  // uses slot `slot` and its commit kernel zeroes the other one, which no
  // kernel of this call touches, so that needs no ordering after the
  // kernels that read this call's slot (no last-block count, no fence).
  // The next call then takes the other slot. zeroBytes[i]: bytes at the
  // start of slot i known to be zero (valid while regionBytes is unchanged).
  size_t regionBytes = 0;
  int slot = 0;
  size_t zeroBytes[2] = {0, 0};
  // The stream (cudaStreamGetId: never reused in a process) that `done` was
  // last recorded on by a call that completed its enqueueing; a call on that
  // stream is ordered after it already.
  bool lastStreamKnown = false;
  unsigned long long lastStream = 0;
};
std::mutex gWorkspaceMutex;
std::map<int, Workspace>& workspaces() {
  static auto* m = new std::map<int, Workspace>();  // never destroyed: CUDA may be gone at exit
  return *m;
}

// A bump allocator over one buffer: plan with base = null, then carve.
struct Carver {
  char* base;
  size_t used = 0;
  template <typename X>
  X* take(size_t count) {
    used = (used + 255) & ~size_t(255);
    X* p = base ? reinterpret_cast<X*>(base + used) : nullptr;
    used += count * sizeof(X);
    return p;
  }
};

// Waits (host) until the previous call's work on the workspace is done.
void waitPrevious(Workspace& ws, const char* fn) {
  if (ws.done) ROUTE_CUDA(cudaEventSynchronize(ws.done));
}

// Orders this call's work after the previous call's (device side, no host
// wait): stream order does it on the same stream, an event wait on another.
void beginCall(Workspace& ws, cudaStream_t st, const char* fn) {
  unsigned long long id = 0;
  ROUTE_CUDA(cudaStreamGetId(st, &id));
  if (!ws.done) ROUTE_CUDA(cudaEventCreateWithFlags(&ws.done, cudaEventDisableTiming));
  else if (!ws.lastStreamKnown || ws.lastStream != id) ROUTE_CUDA(cudaStreamWaitEvent(st, ws.done, 0));
  ws.lastStreamKnown = false;  // until endCall
}

void endCall(Workspace& ws, cudaStream_t st, const char* fn) {
  ROUTE_CUDA(cudaEventRecord(ws.done, st));
  ROUTE_CUDA(cudaStreamGetId(st, &ws.lastStream));
  ws.lastStreamKnown = true;
}

void ensure(Workspace& ws, size_t devBytes, size_t hostBytes, const char* fn) {
  if (ws.devBytes < devBytes || ws.hostBytes < hostBytes) waitPrevious(ws, fn);
  if (ws.devBytes < devBytes) {
    if (ws.dev) ROUTE_CUDA(cudaFree(ws.dev));
    ws.dev = nullptr;
    ws.devBytes = 0;
    ws.zeroBytes[0] = ws.zeroBytes[1] = 0;
    ROUTE_CUDA(cudaMalloc(&ws.dev, devBytes));
    ws.devBytes = devBytes;
  }
  if (ws.hostBytes < hostBytes) {
    if (ws.host) ROUTE_CUDA(cudaFreeHost(ws.host));
    ws.host = nullptr;
    ws.hostBytes = 0;
    ROUTE_CUDA(cudaMallocHost(&ws.host, hostBytes));
    ws.hostBytes = hostBytes;
  }
}

struct Launch {
  int blocks = 0, threads = 0;
  size_t smem = 0;
  int maxBlocks = 0;  // planLaunch: the most blocks that fit on the device at once
  int sms = 0;        // planLaunch: the device's SMs
};

// What the launches need to know of the current device, queried once.
// Callers hold gWorkspaceMutex.
struct DeviceInfo {
  int sms = 0;
  bool dependentLaunches = false;  // programmatic dependent launches: compute capability 9.0 and later
  size_t smemPerSm = 0, smemReservedPerBlock = 0, smemPerBlockOptin = 0;
};
const DeviceInfo& deviceInfo(const char* fn) {
  static std::map<int, DeviceInfo> known;
  int device = 0;
  ROUTE_CUDA(cudaGetDevice(&device));
  auto it = known.find(device);
  if (it == known.end()) {
    DeviceInfo info;
    int major = 0;
    ROUTE_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    ROUTE_CUDA(cudaDeviceGetAttribute(&info.sms, cudaDevAttrMultiProcessorCount, device));
    info.dependentLaunches = major >= 9;
    int perSm = 0, reserved = 0, optin = 0;
    ROUTE_CUDA(cudaDeviceGetAttribute(&perSm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
    ROUTE_CUDA(cudaDeviceGetAttribute(&reserved, cudaDevAttrReservedSharedMemoryPerBlock, device));
    ROUTE_CUDA(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    info.smemPerSm = perSm, info.smemReservedPerBlock = reserved, info.smemPerBlockOptin = optin;
    it = known.emplace(device, info).first;
  }
  return it->second;
}

// The launch shape of a kernel for one (device, shared-memory need): queried
// once and cached (the queries cost microseconds, a call can take ~20 us).
// Callers hold gWorkspaceMutex.
struct Plan {
  int warps = 0, perSm = 0;  // blocks of `warps` warps that fit on one SM
  size_t smem = 0;
};

template <typename Kernel>
Plan queryLaunch(Kernel kernel, size_t smemFixed, size_t smemPerWarp, const char* fn);
std::map<std::tuple<int, const void*, size_t, size_t>, Plan>& planCache() {
  static auto* m = new std::map<std::tuple<int, const void*, size_t, size_t>, Plan>();
  return *m;
}

// A persistent grid for `units` warps of work: as many blocks as fit at once
// (at most maxPerSm per SM when it is > 0), fewer when there is less work.
template <typename Kernel>
Launch planLaunch(Kernel kernel, size_t smemFixed, size_t smemPerWarp, int64_t units, const char* fn,
                  int maxPerSm = 0) {
  int device = 0;
  ROUTE_CUDA(cudaGetDevice(&device));
  const auto key = std::make_tuple(device, reinterpret_cast<const void*>(kernel), smemFixed, smemPerWarp);
  auto it = planCache().find(key);
  if (it == planCache().end())
    it = planCache().emplace(key, queryLaunch(kernel, smemFixed, smemPerWarp, fn)).first;
  const Plan& p = it->second;
  Launch l;
  l.threads = p.warps * 32;
  l.smem = p.smem;
  const int perSm = maxPerSm > 0 ? std::min(maxPerSm, p.perSm) : p.perSm;
  const int64_t need = (units + p.warps - 1) / p.warps;
  l.sms = deviceInfo(fn).sms;
  l.maxBlocks = perSm * l.sms;
  l.blocks = (int)std::max<int64_t>(1, std::min<int64_t>(need, l.maxBlocks));
  return l;
}

// Lets `kernel` launch with `bytes` of dynamic shared memory. The attribute
// is per kernel and device, not per launch: only ever raised (a cached plan with more
// shared memory must still launch). Callers hold gWorkspaceMutex.
template <typename Kernel>
void allowSmem(Kernel kernel, size_t bytes, const char* fn) {
  static std::map<std::pair<int, const void*>, size_t> raised;  // per device: the attribute is set on the current one
  int device = 0;
  ROUTE_CUDA(cudaGetDevice(&device));
  size_t& most = raised[{device, reinterpret_cast<const void*>(kernel)}];
  if (bytes > most) {
    ROUTE_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    most = bytes;
  }
}

// The plan of `kernel` on the current device.
template <typename Kernel>
Plan queryLaunch(Kernel kernel, size_t smemFixed, size_t smemPerWarp, const char* fn) {
  Plan l;
  l.warps = 8;
  while (l.warps > 1 && smemFixed + l.warps * smemPerWarp > 64 * 1024) l.warps /= 2;
  l.smem = smemFixed + l.warps * smemPerWarp;
  if (l.smem > deviceInfo(fn).smemPerBlockOptin)
    throwError(samNotSupported, std::string(fn) + ": numExperts too large for the CUDA kernel's shared memory");
  allowSmem(kernel, l.smem, fn);
  ROUTE_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&l.perSm, kernel, l.warps * 32, l.smem));
  l.perSm = std::max(l.perSm, 1);
  return l;
}

// Launches a kernel as a programmatic dependent of the one before it in the
// stream (sm_90 and later; an ordinary launch before): it is scheduled while
// that one drains and waits for it in waitForPreviousKernel, so the two run
// without a launch gap between them.
template <typename... Params, typename... Args>
void launchAfter(void (*kernel)(Params...), const Launch& l, cudaStream_t st, const char* fn, Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(l.blocks);
  cfg.blockDim = dim3(l.threads);
  cfg.dynamicSmemBytes = l.smem;
  cfg.stream = st;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = deviceInfo(fn).dependentLaunches ? 1 : 0;
  ROUTE_CUDA(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

int gridFor(int64_t n) { return (int)std::max<int64_t>(1, std::min<int64_t>((n + 255) / 256, 4096)); }

// A lane tracks its candidate experts in a 64-bit mask: 64 x 32 lanes = 2048.
constexpr int kMaxCudaExperts = 2048;

void checkCudaLimits(const RouteSpec& s, const char* fn) {
  if (s.E > kMaxCudaExperts)
    throwError(samNotSupported, std::string(fn) + ": numExperts is " + std::to_string(s.E) +
                                    ", the CUDA kernels take at most " + std::to_string(kMaxCudaExperts));
}

// Whether `st` is capturing a CUDA graph. An eager call keeps state on the
// host between calls (which workspace slot is clean, the pinned staging
// buffer, the event of the last call) and shares the device's workspace
// with every other call; replayed from a graph, it would reuse a slot its
// last replay left dirty (counts doubled, a bad-logit flag kept) and race
// eager calls on other streams. So a captured forward takes memory the
// graph owns (forwardCuda), and a call that must wait for the host (a
// synchronising forward, the backward) is refused before anything is
// enqueued, the capture left valid.
bool capturing(cudaStream_t st, const char* fn) {
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  ROUTE_CUDA(cudaStreamIsCapturing(st, &capture));
  return capture != cudaStreamCaptureStatusNone;
}
void refuseGraphCapture(cudaStream_t st, const char* what, const char* fn) {
  if (capturing(st, fn))
    throwError(samNotSupported, std::string(fn) + ": the stream is capturing a CUDA graph, and " + what +
                                    " waits for the host; only a sync-free forward (out->status given, stats "
                                    "NULL) can be captured");
}

DevSpec toDev(const RouteSpec& s, int* nodeData) {
  DevSpec d{};
  d.E = s.E, d.R = s.R, d.G = s.G, d.M = s.M, d.N = s.N, d.k = s.k;
  d.gs = s.groupSize, d.epr = s.expertsPerRank, d.topN = s.topN, d.numNodes = s.numNodes;
  d.sigmoid = s.score == samScoreSigmoid;
  d.reduce = s.reduce;
  d.renorm = s.renorm;
  d.scale = s.scale;
  d.bias = s.bias;
  d.allGroups = s.allGroups();
  d.nodeLimited = s.nodeLimited();
  d.gsMagic = divMagic(s.groupSize);
  d.eprMagic = divMagic(s.expertsPerRank);
  d.rankNode = nodeData;
  d.nodeRankStart = nodeData + s.R;
  d.nodeRanks = nodeData + s.R + s.numNodes + 1;
  return d;
}

// The node tables the kernels read (DevSpec::nodes): rank -> node, then
// each node's first rank and its ranks.
std::vector<int> nodeTables(const RouteSpec& s) {
  std::vector<int> v(s.rankNode);
  v.insert(v.end(), s.nodeRankStart.begin(), s.nodeRankStart.end());
  v.insert(v.end(), s.nodeRanks.begin(), s.nodeRanks.end());
  return v;
}

// Uploads the node tables as kernel parameters, a chunk per launch
// (parameters may take 4 KB): the values travel with the launch, so nothing
// host-side must outlive it. A copy from a pinned staging buffer would make
// the next call wait on the host until this one had read it (no longer
// sync-free), and, captured into a graph, would read at each replay
// whatever a later call left there.
struct IntChunk {
  static constexpr int kInts = 960;
  int n;
  int v[kInts];
};
__global__ void storeIntsKernel(int* dst, IntChunk c) {
  for (int i = threadIdx.x; i < c.n; i += blockDim.x) dst[i] = c.v[i];
}
void uploadNodes(const RouteSpec& s, int* dst, cudaStream_t st, const char* fn) {
  const std::vector<int> v = nodeTables(s);
  for (size_t at = 0; at < v.size(); at += IntChunk::kInts) {
    IntChunk c;
    c.n = (int)std::min<size_t>(IntChunk::kInts, v.size() - at);
    std::memcpy(c.v, v.data() + at, c.n * sizeof(int));
    storeIntsKernel<<<1, 256, 0, st>>>(dst + at, c);
    ROUTE_CUDA(cudaGetLastError());
  }
}

size_t nodeWords(const RouteSpec& s) { return 2 * s.R + s.numNodes + 1; }

// Throws the samNumericError of a bad logit or bias found by a kernel.
void raiseBad(const Small& sm, const RouteSpec& spec, const void* logits, samDataType_t dtype, const char* fn) {
  unsigned long long i = 0;
  if (badAt(sm.badLogit, &i)) {
    const size_t bytes = logitBytes(dtype, fn);
    uint32_t raw = 0;
    ROUTE_CUDA(cudaMemcpy(&raw, static_cast<const char*>(logits) + i * bytes, bytes, cudaMemcpyDeviceToHost));
    const float v = logitToFloat(&raw, dtype, 0);
    throwError(samNumericError, badLogitMessage(fn, (int64_t)(i / spec.E), (int)(i % spec.E), v));
  }
  if (badAt(sm.badBias, &i)) {
    float v = 0.0f;
    ROUTE_CUDA(cudaMemcpy(&v, spec.bias + i, sizeof v, cudaMemcpyDeviceToHost));
    throwError(samNumericError, badBiasMessage(fn, (int)i, v));
  }
}

// The shapes fast::routeFastKernel handles (see route_fast.cuh); SAM_ROUTE_GENERIC=1
// forces the general kernel (to compare the two).
bool fastShape(const DevSpec& d) {
  if (paramInt("SAM_ROUTE_GENERIC") != 0) return false;  // read per call: tests switch it
  if (d.E != 64 && d.E != 128 && d.E != 256 && d.E != 512) return false;
  if (d.nodeLimited) return false;
  if (d.allGroups) return true;
  if (d.gs != 32) return false;
  return d.reduce != samGroupReduceTopN || d.topN <= 2;
}

// Whether fast::routeRowKernel takes the call (route_rows.cuh): E = 128 or
// 256, k <= 8, softmax without a bias (every group kept, or a group sum or
// max) or sigmoid (every group kept, or a group max or top-2 sum), no
// capacity, no statistics, logits aligned to 16 bytes, SAM_ROUTE_EXACT=0.
bool rowFits(const DevSpec& d, const void* logits, const FwdOut& o, bool stats) {
  if (o.sraw || stats || paramInt("SAM_ROUTE_EXACT") != 0) return false;
  if ((d.E != 128 && d.E != 256) || d.k > fast::kRowMostK || reinterpret_cast<uintptr_t>(logits) % 16 != 0) return false;
  const bool groupMax = groupScoreIsMax(d);
  const bool top2 = d.reduce == samGroupReduceTopN && d.topN == 2;
  if (!d.sigmoid) return !d.bias && (d.allGroups || groupMax || d.reduce == samGroupReduceSum);
  return d.allGroups || groupMax || top2;
}

// The row kernel's launch: rowGrid (route_grid.h) on top of planLaunch's
// shape (planned with smemFixed + warps x smemPerWarp of shared memory).
void applyRowGrid(int64_t batches, bool twoRounds, size_t smemFixed, size_t smemPerWarp, Launch& l) {
  const RowGrid g = rowGrid(batches, l.maxBlocks, l.threads / 32, l.sms, twoRounds);
  l.blocks = g.blocks;
  l.threads = 32 * g.warpsPerBlock;
  l.smem = smemFixed + g.warpsPerBlock * smemPerWarp;
}

// One instance of the row kernel, built for kMinBlocks blocks per SM.
// Returns false (launching nothing) if onlyIfManyRounds is set and the
// grid's units (batches, or pairs of them for the one-lane tail) need no
// more than two rounds of its warps.
template <typename In, int V, bool kSoftmax, int kList, fast::RowGroups kGroups, int kMinBlocks>
bool launchRowKernel(const DevSpec& d, const In* x, int64_t T, const FwdOut& o, bool counts, size_t fixed,
                     bool onlyIfManyRounds, cudaStream_t st, const char* fn) {
  const auto kernel = fast::routeRowKernel<In, V, kSoftmax, kList, kGroups, kMinBlocks>;
  const size_t pad = d.bias ? sizeof(float) * V * fast::kBiasStride : 0;
  // The grid's unit: a batch of 16 tokens, or two for the one-lane tail
  // (routeRowKernel routes a unit's batches in one tail).
  constexpr bool kWide = fast::rowWideTail<In>(kList, kGroups);
  constexpr int perUnit = kWide ? 2 : 1;
  constexpr int rows = fast::SliceLayout<In>::kRows;
  const size_t perWarp =
      sizeof(uint32_t) * fast::WarpLayout<In, V, perUnit * rows, fast::rowStateWords<In>(kList, kGroups)>::kWords;
  const int64_t batches = (T + rows - 1) / rows, units = (batches + perUnit - 1) / perUnit;
  const int perSm = (int)paramInt("SAM_ROUTE_ROW_BLOCKS_PER_SM");  // 0: rowGrid decides
  const size_t smemFixed = fixed + pad + 16;                        // 16: alignment
  Launch l = planLaunch(kernel, smemFixed, perWarp, units, fn, perSm);
  if (onlyIfManyRounds && units <= 2 * (int64_t)l.maxBlocks * (l.threads / 32)) return false;
  if (perSm == 0) applyRowGrid(units, fast::rowTwoRounds<In>(kList, kGroups), smemFixed, perWarp, l);
  const DeviceInfo& dev = deviceInfo(fn);
  l.smem = evenSpreadSmem(l.blocks, l.sms, l.smem, dev.smemPerSm, dev.smemReservedPerBlock, dev.smemPerBlockOptin);
  allowSmem(kernel, l.smem, fn);
  launchAfter(kernel, l, st, fn, d, x, T, o, counts);
  return true;
}

template <typename In, int V, bool kSoftmax, int kList, fast::RowGroups kGroups>
void launchRows(const DevSpec& d, const In* x, int64_t T, const FwdOut& o, bool counts, size_t fixed,
                cudaStream_t st, const char* fn) {
  int minBlocks = 2;  // the build launched (its kMinBlocks)
  if constexpr (fast::rowShortWork<In>(kList)) {
    minBlocks = 4;
    launchRowKernel<In, V, kSoftmax, kList, kGroups, 4>(d, x, T, o, counts, fixed, false, st, fn);
  } else if constexpr (kList > 3) {
    // More than two rounds of the 128-register build (T = 1M): the 85-register
    // one, whose 24 warps per SM hide more latency there (deepseek-v3, H200:
    // 2 blocks per SM was 2.6% (fp32) and 9% (bf16) slower at T = 1M).
    if (launchRowKernel<In, V, kSoftmax, kList, kGroups, 3>(d, x, T, o, counts, fixed, true, st, fn)) minBlocks = 3;
    else launchRowKernel<In, V, kSoftmax, kList, kGroups, 2>(d, x, T, o, counts, fixed, false, st, fn);
  } else {
    launchRowKernel<In, V, kSoftmax, kList, kGroups, 2>(d, x, T, o, counts, fixed, false, st, fn);
  }
  // The same function the kernel asks, so the two cannot disagree.
  if (!fast::rowDefersUnproven(kSoftmax, kList, minBlocks)) return;  // the row kernel routed its unproven tokens itself
  // Their number is on the device, so the grid is sized for up to
  // kRetryWarps of them at once (a block with none returns at once).
  constexpr int64_t kRetryWarps = 4096;
  const auto retry = fast::retryKernel<In, V>;
  const Launch r = planLaunch(retry, fixed, 0, std::min<int64_t>(T, kRetryWarps), fn);
  launchAfter(retry, r, st, fn, d, x, o, counts);
}

// The instance for this k (a list of the k picks and the runner-up: 2, 3 or
// 9 entries: switch, gshard/sam, up to k = 8) and how it finds the chosen
// groups' candidates (RowGroups).
template <typename In, int V, bool kSoftmax, int kList>
void launchRowsForGroups(const DevSpec& d, const In* x, int64_t T, const FwdOut& o, bool counts, size_t fixed,
                         cudaStream_t st, const char* fn) {
  using fast::RowGroups;
  if (d.allGroups) {
    // k < V always here: k <= 2 and V >= 4.
    if constexpr (fast::rowCanChooseByMax<In>(kSoftmax, kList))
      launchRows<In, V, kSoftmax, kList, RowGroups::byMax>(d, x, T, o, counts, fixed, st, fn);
    else
      launchRows<In, V, kSoftmax, kList, RowGroups::all>(d, x, T, o, counts, fixed, st, fn);
    return;
  }
  if constexpr (fast::rowCanKeepBest<In>(kSoftmax, kList)) {
    if (d.M == 1) {
      launchRows<In, V, kSoftmax, kList, RowGroups::keepBest>(d, x, T, o, counts, fixed, st, fn);
      return;
    }
  }
  launchRows<In, V, kSoftmax, kList, RowGroups::reload>(d, x, T, o, counts, fixed, st, fn);
}
template <typename In, int V, bool kSoftmax>
void launchRowsForK(const DevSpec& d, const In* x, int64_t T, const FwdOut& o, bool counts, size_t fixed,
                    cudaStream_t st, const char* fn) {
  if (d.k == 1) launchRowsForGroups<In, V, kSoftmax, 2>(d, x, T, o, counts, fixed, st, fn);
  else if (d.k == 2) launchRowsForGroups<In, V, kSoftmax, 3>(d, x, T, o, counts, fixed, st, fn);
  // 16-bit sigmoid: a key past the runner-up, for the second look. Not fp32:
  // its 3-block build (large T) spilled more, deepseek-v3 fp32 at T = 1M
  // 688 -> 722 us, for nothing at T = 65536 (51.6 -> 51.5 us).
  else launchRowsForGroups<In, V, kSoftmax, !kSoftmax && sizeof(In) == 2 ? 10 : 9>(d, x, T, o, counts, fixed, st, fn);
}

template <typename In, int V>
void launchFast(const DevSpec& d, const void* logits, int64_t T, const FwdOut& o, bool counts, bool stats,
                size_t fixed, size_t perWarp, cudaStream_t st, const char* fn) {
  const In* x = static_cast<const In*>(logits);
  if constexpr (V == 4 || V == 8) {
    // The row kernel where it applies and the call is large enough for it;
    // otherwise the exact one-warp-per-token kernel below.
    if (rowFits(d, logits, o, stats) &&
        rowKernelPays(T, deviceInfo(fn).sms, d.sigmoid, paramInt("SAM_ROUTE_ROW_MIN_TOKENS"))) {
      if (d.sigmoid) launchRowsForK<In, V, false>(d, x, T, o, counts, fixed, st, fn);
      else launchRowsForK<In, V, true>(d, x, T, o, counts, fixed, st, fn);
      return;  // launchRows checked its launches
    }
  }
  const Launch l = planLaunch(fast::routeFastKernel<In, V>, fixed, perWarp, T, fn);
  // A plain launch: calls this small are bound by the host's enqueue, which
  // a dependent launch lengthens (H200, T = 4096: 8.0 -> 9.7 us per call).
  fast::routeFastKernel<In, V><<<l.blocks, l.threads, l.smem, st>>>(d, x, T, o, counts, stats);
  ROUTE_CUDA(cudaGetLastError());
}

template <typename In>
void launchForward(const DevSpec& d, const void* logits, int64_t T, const FwdOut& o, bool counts, bool stats,
                   cudaStream_t st, const char* fn) {
  const size_t fixed = counts ? sizeof(int) * (d.E + ((d.R + 1) & ~1)) : 0;  // block histograms
  const size_t perWarp = warpWords(d) * sizeof(float) + (stats ? sizeof(double) * d.E : 0);
  if (fastShape(d)) {
    const size_t fastPerWarp = stats ? sizeof(double) * d.E : 0;
    const size_t fastFixed = fixed + (d.bias ? sizeof(float) * d.E : 0);
    switch (d.E) {
      case 64: launchFast<In, 2>(d, logits, T, o, counts, stats, fastFixed, fastPerWarp, st, fn); return;
      case 128: launchFast<In, 4>(d, logits, T, o, counts, stats, fastFixed, fastPerWarp, st, fn); return;
      case 256: launchFast<In, 8>(d, logits, T, o, counts, stats, fastFixed, fastPerWarp, st, fn); return;
      case 512: launchFast<In, 16>(d, logits, T, o, counts, stats, fastFixed, fastPerWarp, st, fn); return;
    }
  }
  const Launch l = planLaunch(routeForwardKernel<In>, fixed, perWarp, T, fn);
  routeForwardKernel<In><<<l.blocks, l.threads, l.smem, st>>>(d, static_cast<const In*>(logits), T, o, counts,
                                                              stats);
  ROUTE_CUDA(cudaGetLastError());
}

template <template <typename> class Fn, typename... Args>
void byDtype(samDataType_t dtype, Args&&... args) {
  switch (dtype) {
    case samFloat32: Fn<float>::run(args...); break;
    case samFloat16: Fn<__half>::run(args...); break;
    case samBfloat16: Fn<__nv_bfloat16>::run(args...); break;
    default: throwError(samInvalidArgument, "routing: dtype is not a logits type");
  }
}

template <typename In>
struct ForwardLaunch {
  static void run(const DevSpec& d, const void* logits, int64_t T, const FwdOut& o, bool counts, bool stats,
                  cudaStream_t st, const char* fn) {
    launchForward<In>(d, logits, T, o, counts, stats, st, fn);
  }
};

template <typename In>
struct BackwardLaunch {
  static void run(const DevSpec& d, const void* logits, int64_t T, const BwdArgs& a, bool grad, cudaStream_t st,
                  const char* fn) {
    if (!grad) {
      const Launch l = planLaunch(backwardCheckKernel<In>, 0, warpWords(d) * sizeof(float), T, fn);
      backwardCheckKernel<In><<<l.blocks, l.threads, l.smem, st>>>(d, static_cast<const In*>(logits), T, a);
    } else {
      const Launch l = planLaunch(backwardGradKernel<In>, 0, (warpWords(d) + d.E) * sizeof(float), T, fn);
      backwardGradKernel<In><<<l.blocks, l.threads, l.smem, st>>>(d, static_cast<const In*>(logits), T, a);
    }
    ROUTE_CUDA(cudaGetLastError());
  }
};

}  // namespace

void forwardCuda(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T,
                 const samRouteOutput_t& out, samRouteStats_t* stats, void* stream, const char* fn) {
  checkCudaLimits(spec, fn);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const int E = spec.E, R = spec.R, k = spec.k;
  const bool capacity = spec.capacityFactor > 0.0f;
  const int64_t n = T * k;
  if (capacity && n > INT_MAX)
    throwError(samNotSupported, std::string(fn) + ": capacity mode on CUDA takes numTokens * topk < 2^31");
  const bool wantCounts = capacity || out.rankCounts || out.expertCounts || stats;
  const bool wantStats = stats != nullptr;
  // With status and no stats nothing needs the host: enqueue and return.
  const bool syncFree = out.status != nullptr && stats == nullptr;
  if (!syncFree) refuseGraphCapture(st, "a synchronising forward (stats given, or no out->status)", fn);
  const bool inGraph = syncFree && capturing(st, fn);

  std::lock_guard<std::mutex> lock(gWorkspaceMutex);
  int device = 0;
  ROUTE_CUDA(cudaGetDevice(&device));
  Workspace& ws = workspaces()[device];

  // Plan the workspace: small region first (read back in one copy).
  size_t sortTemp = 0, scanTemp = 0;
  if (capacity) {
    ROUTE_CUDA(cub::DeviceRadixSort::SortPairs(nullptr, sortTemp, (unsigned long long*)nullptr,
                                               (unsigned long long*)nullptr, (int32_t*)nullptr, (int32_t*)nullptr,
                                               (int)n, 0, 64, st));
    ROUTE_CUDA(cub::DeviceScan::ExclusiveSum(nullptr, scanTemp, (int32_t*)nullptr, (int32_t*)nullptr, R, st));
  }
  // The small region, read back in one copy: in the workspace, one of the
  // two slots (Workspace); on the host, at the start of the pinned buffer.
  auto smallLayout = [&](char* base, auto& p) {
    Carver c{base};
    p.small = c.take<Small>(1);
    p.scoreSum = c.take<double>(E);
    p.expertCounts = c.take<int32_t>(E);
    p.rankCounts = c.take<int32_t>(R);
    p.smallBytes = c.used;
  };
  auto layout = [&](char* base, auto& p, int slot) {
    smallLayout(nullptr, p);
    p.regionBytes = (p.smallBytes + 255) & ~size_t(255);
    Carver c{base};
    char* slots = c.take<char>(2 * p.regionBytes);
    smallLayout(base ? slots + slot * p.regionBytes : nullptr, p);
    p.otherSlot = base ? slots + (1 - slot) * p.regionBytes : nullptr;
    p.nodes = c.take<int>(nodeWords(spec));
    p.idx = c.take<int32_t>(n);
    p.w = c.take<float>(n);
    p.retry = c.take<int64_t>(spec.score == samScoreSigmoid ? T : 0);  // only sigmoid's row kernel keeps a list
    p.sraw = capacity ? c.take<float>(n) : nullptr;
    p.keys = capacity ? c.take<unsigned long long>(n) : nullptr;
    p.keysOut = capacity ? c.take<unsigned long long>(n) : nullptr;
    p.vals = capacity ? c.take<int32_t>(n) : nullptr;
    p.valsOut = capacity ? c.take<int32_t>(n) : nullptr;
    p.drop = capacity ? c.take<unsigned char>(n) : nullptr;
    p.dropped = capacity ? c.take<int32_t>(T) : nullptr;
    p.start = capacity ? c.take<int32_t>(R) : nullptr;
    p.sortTemp = capacity ? c.take<char>(sortTemp) : nullptr;
    p.scanTemp = capacity ? c.take<char>(scanTemp) : nullptr;
    p.total = c.used;
  };
  struct Ptrs {
    Small* small;
    double* scoreSum;
    int32_t *expertCounts, *rankCounts;
    size_t smallBytes, regionBytes;
    char* otherSlot;
    int* nodes;
    int32_t* idx;
    float *w, *sraw;
    int64_t* retry;
    unsigned long long *keys, *keysOut;
    int32_t *vals, *valsOut;
    unsigned char* drop;
    int32_t *dropped, *start;
    char *sortTemp, *scanTemp;
    size_t total;
  } p{};
  layout(nullptr, p, 0);
  // A captured call (a sync-free one: the others were refused) takes memory
  // the graph owns: allocated by a node of it and freed by another at the
  // call's end, so each replay has its own, which no eager call shares, and
  // leaves no state on the host. Its small region is zeroed by a node too.
  void* graphMem = nullptr;
  int slot = 0;
  bool clean = false;
  if (inGraph) {
    ROUTE_CUDA(cudaMallocAsync(&graphMem, p.total, st));
    layout(static_cast<char*>(graphMem), p, slot);
  } else {
    ensure(ws, p.total, p.smallBytes + 256, fn);
    if (ws.regionBytes != p.regionBytes) {  // the slots moved: nothing known about them
      ws.regionBytes = p.regionBytes;
      ws.zeroBytes[0] = ws.zeroBytes[1] = 0;
    }
    slot = ws.slot;
    layout(static_cast<char*>(ws.dev), p, slot);
    beginCall(ws, st, fn);
    clean = ws.zeroBytes[slot] >= p.smallBytes;
    ws.zeroBytes[slot] = 0;  // this call dirties it
  }

  // Reset flags (0 = none found) and sums, unless the last call's commit did.
  if (!clean) ROUTE_CUDA(cudaMemsetAsync(p.small, 0, p.smallBytes, st));
  if (spec.nodeLimited()) uploadNodes(spec, p.nodes, st, fn);
  const DevSpec d = toDev(spec, p.nodes);

  if (T > 0) {
    FwdOut o{p.idx, p.w, p.sraw, p.expertCounts, p.rankCounts, p.scoreSum, p.small, p.retry};
    byDtype<ForwardLaunch>(dtype, d, logits, T, o, wantCounts, wantStats, st, fn);
  }
  const int64_t C = capacityFor(spec, T);
  if (capacity && T > 0) {
    const int grid = gridFor(T);
    capacityKeysKernel<<<grid, 256, 0, st>>>(p.idx, p.sraw, T, k, spec.expertsPerRank, p.keys, p.vals);
    ROUTE_CUDA(cudaGetLastError());
    int rankBits = 1;
    while ((1 << rankBits) <= R) ++rankBits;  // 2^rankBits - 1 > R - 1: kNone sorts last
    ROUTE_CUDA(cub::DeviceRadixSort::SortPairs(p.sortTemp, sortTemp, p.keys, p.keysOut, p.vals, p.valsOut, (int)n, 0,
                                               32 + rankBits, st));
    ROUTE_CUDA(cub::DeviceScan::ExclusiveSum(p.scanTemp, scanTemp, p.rankCounts, p.start, R, st));
    ROUTE_CUDA(cudaMemsetAsync(p.drop, 0, n, st));
    capacityMarkKernel<<<gridFor(n), 256, 0, st>>>(p.keysOut, p.valsOut, n, R, p.start, C, p.drop);
    ROUTE_CUDA(cudaGetLastError());
    ROUTE_CUDA(cudaMemsetAsync(p.expertCounts, 0, E * sizeof(int32_t), st));
    ROUTE_CUDA(cudaMemsetAsync(p.rankCounts, 0, R * sizeof(int32_t), st));
    capacityApplyKernel<<<grid, 256, 0, st>>>(p.idx, p.w, p.drop, T, k, spec.expertsPerRank, p.dropped,
                                              p.expertCounts, p.rankCounts, p.small);
    ROUTE_CUDA(cudaGetLastError());
  }
  // A sync-free call's commit zeroes the other slot, which the next call
  // takes; a synchronising call keeps its slot (the host reads it, the next
  // call clears it); a captured call's memory is its own.
  const bool vec4 = (reinterpret_cast<uintptr_t>(out.expertIdx) | reinterpret_cast<uintptr_t>(out.weights)) % 16 == 0;
  uint32_t* clear = syncFree && !inGraph ? reinterpret_cast<uint32_t*>(p.otherSlot) : nullptr;
  CommitArgs a{p.idx, p.w, p.dropped, p.expertCounts, p.rankCounts, out, T, k, E, R, p.small, out.status,
               clear, clear ? p.smallBytes : 0, vec4};
  // One thread per count and per token's drop (commitKernel has no loop for
  // them), and enough for the slots, which it copies in a grid-stride loop.
  const int64_t slotItems = vec4 ? (n + 3) / 4 : n;
  const int64_t oneEach = std::max<int64_t>(out.dropped ? T : 0, std::max(E, R));
  const int commitBlocks = (int)std::max<int64_t>(gridFor(slotItems), (oneEach + 255) / 256);
  launchAfter(commitKernel, Launch{commitBlocks, 256, 0}, st, fn, a);
  if (inGraph) {
    ROUTE_CUDA(cudaFreeAsync(graphMem, st));
    return;
  }
  if (syncFree) {
    ws.zeroBytes[1 - slot] = p.smallBytes;
    ws.slot = 1 - slot;
    endCall(ws, st, fn);
    return;
  }
  ROUTE_CUDA(cudaMemcpyAsync(ws.host, p.small, p.smallBytes, cudaMemcpyDeviceToHost, st));
  endCall(ws, st, fn);
  ROUTE_CUDA(cudaStreamSynchronize(st));

  // Read back what the kernels found (layout of the small region on the host).
  Ptrs h{};
  smallLayout(static_cast<char*>(ws.host), h);
  raiseBad(*h.small, spec, logits, dtype, fn);
  SAM_TRACE(LOG_ROUTE, "%s: %llu of %lld tokens routed by the exact path (close decisions)", fn,
            (unsigned long long)h.small->rerouted, (long long)T);
  if (stats)
    finishStats(spec, T, h.scoreSum, h.expertCounts, h.rankCounts, (int64_t)h.small->pairsDropped,
                h.small->alignment, C, stats);
}

void backwardCuda(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T,
                  const int32_t* expertIdx, const float* gradWeights, const samRouteLossCoef_t& coef,
                  float* gradLogits, void* stream, const char* fn) {
  checkCudaLimits(spec, fn);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  refuseGraphCapture(st, "the backward", fn);
  const int E = spec.E;
  std::lock_guard<std::mutex> lock(gWorkspaceMutex);
  int device = 0;
  ROUTE_CUDA(cudaGetDevice(&device));
  Workspace& ws = workspaces()[device];
  auto layout = [&](char* base, auto& p) {
    Carver c{base};
    p.small = c.take<Small>(1);
    p.counts = c.take<int32_t>(E);
    p.smallBytes = c.used;
    p.base = c.take<float>(E);
    p.nodes = c.take<int>(nodeWords(spec));
    p.total = c.used;
  };
  struct Ptrs {
    Small* small;
    int32_t* counts;
    size_t smallBytes;
    float* base;
    int* nodes;
    size_t total;
  } p{};
  layout(nullptr, p);
  const size_t hostNeed = std::max(p.smallBytes, E * sizeof(float)) + 256;
  ensure(ws, p.total, hostNeed, fn);
  layout(static_cast<char*>(ws.dev), p);
  beginCall(ws, st, fn);
  waitPrevious(ws, fn);  // the backward stages through the pinned buffer
  ws.zeroBytes[0] = ws.zeroBytes[1] = 0;  // its small region (over the forward's slots) is read back, not cleared
  ROUTE_CUDA(cudaMemsetAsync(p.small, 0, p.smallBytes, st));
  if (spec.nodeLimited()) uploadNodes(spec, p.nodes, st, fn);
  const DevSpec d = toDev(spec, p.nodes);
  BwdArgs a{expertIdx, gradWeights, nullptr, coef.alignment, gradLogits, p.counts, p.small};
  if (T > 0) byDtype<BackwardLaunch>(dtype, d, logits, T, a, false, st, fn);
  ROUTE_CUDA(cudaMemcpyAsync(ws.host, p.small, p.smallBytes, cudaMemcpyDeviceToHost, st));
  ROUTE_CUDA(cudaStreamSynchronize(st));
  Ptrs h{};
  layout(static_cast<char*>(ws.host), h);
  raiseBad(*h.small, spec, logits, dtype, fn);
  unsigned long long badSlot = 0;
  if (badAt(h.small->badIdx, &badSlot)) {
    const int64_t t = (int64_t)(badSlot / spec.k);
    const int i = (int)(badSlot % spec.k);
    int32_t given = 0;
    ROUTE_CUDA(cudaMemcpy(&given, expertIdx + badSlot, sizeof given, cudaMemcpyDeviceToHost));
    std::string what = std::string(fn) + ": expertIdx[" + std::to_string(t) + ", " + std::to_string(i) + "] is " +
                       std::to_string(given);
    if (given < -1 || given >= E) throwError(samInvalidArgument, what + ", must be -1 (dropped) or in [0, " +
                                                                     std::to_string(E) + ")");
    throwError(samInvalidArgument, what + " but these logits and config route that slot elsewhere");
  }
  if (T == 0) return;
  // dL/ds of the balance losses, f_e held constant (computed here in double).
  std::vector<int32_t> counts(h.counts, h.counts + E);
  int64_t pairs = 0;
  for (int e = 0; e < E; ++e) pairs += counts[e];
  float* base = static_cast<float*>(ws.host);
  for (int e = 0; e < E; ++e) {
    double b = 0.0;
    if (pairs > 0) {
      b += coef.expertBalance * (double)E * ((double)counts[e] / pairs) / T;
      const int g0 = spec.groupOf(e) * spec.groupSize;
      double fg = 0.0;
      for (int j = g0; j < g0 + spec.groupSize; ++j) fg += counts[j];
      b += coef.deviceBalance * (double)spec.G * (fg / pairs) / T;
    }
    base[e] = (float)b;
  }
  ROUTE_CUDA(cudaMemcpyAsync(p.base, base, E * sizeof(float), cudaMemcpyHostToDevice, st));
  a.base = p.base;
  byDtype<BackwardLaunch>(dtype, d, logits, T, a, true, st, fn);
  endCall(ws, st, fn);
  ROUTE_CUDA(cudaStreamSynchronize(st));
}

ApproxBound sigmoidApproxBound() {
  const char* fn = "sigmoidApproxBound";
  int sms = 0;
  {
    std::lock_guard<std::mutex> lock(gWorkspaceMutex);  // deviceInfo's callers hold it
    sms = deviceInfo(fn).sms;
  }
  unsigned long long* worst = nullptr;
  ROUTE_CUDA(cudaMalloc(&worst, sizeof(*worst)));
  const std::unique_ptr<unsigned long long, cudaError_t (*)(void*)> owned(worst, &cudaFree);
  ROUTE_CUDA(cudaMemset(worst, 0, sizeof(*worst)));
  sigmoidErrorKernel<<<sms * 8, 256>>>(worst);
  ROUTE_CUDA(cudaGetLastError());
  unsigned long long bits = 0;
  ROUTE_CUDA(cudaMemcpy(&bits, worst, sizeof(bits), cudaMemcpyDeviceToHost));
  double measured = 0.0;
  std::memcpy(&measured, &bits, sizeof(measured));
  return ApproxBound{fast::kSigmoidErr, measured};
}

SieveBoundCheck sieveBoundCheck() {
  const char* fn = "sieveBoundCheck";
  unsigned long long* counts = nullptr;  // checked, violations
  ROUTE_CUDA(cudaMalloc(&counts, 2 * sizeof(*counts) + sizeof(unsigned)));
  const std::unique_ptr<unsigned long long, cudaError_t (*)(void*)> owned(counts, &cudaFree);
  ROUTE_CUDA(cudaMemset(counts, 0, 2 * sizeof(*counts)));
  unsigned* closest = reinterpret_cast<unsigned*>(counts + 2);
  ROUTE_CUDA(cudaMemset(closest, 0x7f, sizeof(unsigned)));  // a large float
  const int n = kSieveBounds * kSieveBiases;
  sieveBoundKernel<<<(n + 255) / 256, 256>>>(counts, counts + 1, closest);
  ROUTE_CUDA(cudaGetLastError());
  unsigned long long host[2];
  unsigned closestBits = 0;
  ROUTE_CUDA(cudaMemcpy(host, counts, sizeof(host), cudaMemcpyDeviceToHost));
  ROUTE_CUDA(cudaMemcpy(&closestBits, closest, sizeof(closestBits), cudaMemcpyDeviceToHost));
  float closestSel = 0.0f;
  std::memcpy(&closestSel, &closestBits, sizeof(closestSel));
  return SieveBoundCheck{host[0], host[1], closestSel};
}

}  // namespace route
}  // namespace sam
