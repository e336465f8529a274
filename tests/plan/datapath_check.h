// One MoE layer run end to end on one rank of a real multi-process job, and
// checked against a dense reference: y_t = sum_i w_i f_{e_i}(x_t) with the
// known expert functions f_e(x) = (e + 1) x + e, the gradients likewise, and
// the traffic counters to the byte. Used by the fork-based tests (hand-made
// communicator) and by the tests over the real communicator.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "plan/dtype_convert.h"
#include "sam.h"

namespace samtest {

// The routing of every rank, computable by any rank (same seed everywhere).
struct RankRoute {
  int64_t numTokens = 0;
  std::vector<int32_t> expertIdx;  // [T, k]
  std::vector<float> weights;      // [T, k]
};
using RouteFn = std::function<RankRoute(int rank)>;

struct LayerCase {
  int nranks = 1;
  int numExperts = 4;
  int topk = 2;
  int hidden = 8;
  samDataType_t dtype = samFloat32;
  int64_t maxRecvRows = 0;
  uint64_t seed = 1;
  std::vector<int> rankNode;  // node of each rank (for the expected transport)
  samRouteConfig_t route{};   // numExperts/numRanks/topk/magic at least
  RouteFn routeOf;
};

// Random routes: k distinct experts per token, some slots dropped (-1),
// some ranks with no tokens; `oneExpert` >= 0 sends every slot 0 there.
inline RankRoute randomRoute(const LayerCase& c, int rank, int64_t tokens, double dropRate, int oneExpert = -1) {
  std::mt19937_64 g(c.seed * 7919 + rank);
  RankRoute r;
  r.numTokens = tokens;
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<int32_t> e(c.numExperts);
    for (int i = 0; i < c.numExperts; ++i) e[i] = i;
    std::shuffle(e.begin(), e.end(), g);
    if (oneExpert >= 0) {
      std::swap(*std::find(e.begin(), e.end(), oneExpert), e[0]);
    }
    for (int j = 0; j < c.topk; ++j) {
      bool drop = oneExpert < 0 && std::uniform_real_distribution<double>(0, 1)(g) < dropRate;
      r.expertIdx.push_back(drop ? -1 : e[j]);
      r.weights.push_back(drop ? 0.f : std::uniform_real_distribution<float>(0.05f, 1.f)(g));
    }
  }
  return r;
}

inline float expertFn(int e, float x) { return (e + 1) * x + e; }

// Rows of `dtype` held as raw bytes, with fp32 views for the reference.
struct Rows {
  samDataType_t dtype;
  int hidden;
  std::vector<uint8_t> bytes;
  Rows(samDataType_t d, int h, int64_t n) : dtype(d), hidden(h), bytes(n * h * sam::dataTypeBytes(d)) {}
  void poison() { memset(bytes.data(), 0xff, bytes.size()); }  // NaN in every dtype
  size_t rowBytes() const { return hidden * sam::dataTypeBytes(dtype); }
  float get(int64_t r, int h) const {
    float v;
    sam::loadRow(dtype, bytes.data() + r * rowBytes() + h * sam::dataTypeBytes(dtype), &v, 1);
    return v;
  }
  void set(int64_t r, int h, float v) {
    sam::storeRow(dtype, &v, bytes.data() + r * rowBytes() + h * sam::dataTypeBytes(dtype), 1);
  }
  void* data() { return bytes.empty() ? nullptr : bytes.data(); }
};

inline double relTol(samDataType_t d) { return d == samFloat32 ? 2e-5 : d == samFloat16 ? 4e-3 : 3e-2; }

#define LAYER_CHECK(cond, ...)                                                           \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "[rank %d] %s:%d: %s: ", me, __FILE__, __LINE__, #cond);           \
      fprintf(stderr, __VA_ARGS__);                                                      \
      fprintf(stderr, " (last error: %s)\n", samGetLastError());                         \
      return 1;                                                                          \
    }                                                                                    \
  } while (0)

// |got - want| within the dtype's tolerance of `scale` (the sum of the
// magnitudes of the terms: what rounding errors scale with).
inline bool close(double got, double want, double scale, samDataType_t d) {
  return std::isfinite(got) && std::fabs(got - want) <= relTol(d) * (scale + 1.0);
}

inline samTransport_t transportTo(const LayerCase& c, int me, int peer) {
  if (peer == me) return samTransportSelf;
  return c.rankNode[peer] == c.rankNode[me] ? samTransportShm : samTransportUcx;
}

struct TrafficSnapshot {
  std::vector<samTrafficCounter_t> cells;  // [peer * samNumTransports + t]
};
inline TrafficSnapshot snapshot(samHandle_t h, int nranks) {
  TrafficSnapshot s;
  for (int p = 0; p < nranks; ++p)
    for (int t = 0; t < samNumTransports; ++t) {
      samTrafficCounter_t c{};
      samPlanGetTraffic(h, p, static_cast<samTransport_t>(t), &c);
      s.cells.push_back(c);
    }
  return s;
}

// The traffic between `before` and `after` is exactly sent[p] / recv[p] bytes
// with each peer over its transport, one message per non-empty block, nothing
// over any other transport.
inline int checkTraffic(const LayerCase& c, int me, const TrafficSnapshot& before, const TrafficSnapshot& after,
                        const std::vector<uint64_t>& sent, const std::vector<uint64_t>& recv, const char* what) {
  for (int p = 0; p < c.nranks; ++p)
    for (int t = 0; t < samNumTransports; ++t) {
      const samTrafficCounter_t& a = after.cells[p * samNumTransports + t];
      const samTrafficCounter_t& b = before.cells[p * samNumTransports + t];
      bool used = t == transportTo(c, me, p);
      uint64_t s = used ? sent[p] : 0, r = used ? recv[p] : 0;
      LAYER_CHECK(a.bytesSent - b.bytesSent == s && a.bytesReceived - b.bytesReceived == r &&
                      a.messagesSent - b.messagesSent == (s > 0) && a.messagesReceived - b.messagesReceived == (r > 0),
                  "%s: peer %d transport %d: sent %llu bytes/%llu msgs, received %llu/%llu; expected %llu/%llu", what,
                  p, t, (unsigned long long)(a.bytesSent - b.bytesSent),
                  (unsigned long long)(a.messagesSent - b.messagesSent),
                  (unsigned long long)(a.bytesReceived - b.bytesReceived),
                  (unsigned long long)(a.messagesReceived - b.messagesReceived), (unsigned long long)s,
                  (unsigned long long)r);
    }
  return 0;
}

// Runs plan, dispatch, experts, combine and both backward passes on rank `me`
// and checks everything. Returns 0 on success (prints why otherwise).
inline int runLayerCheck(samComm_t comm, const LayerCase& c, int me) {
  const int R = c.nranks, k = c.topk, E = c.numExperts, L = E / R, H = c.hidden;
  const size_t rowBytes = H * sam::dataTypeBytes(c.dtype);
  std::vector<RankRoute> routes;
  for (int r = 0; r < R; ++r) routes.push_back(c.routeOf(r));
  const RankRoute& mine = routes[me];
  const int64_t T = mine.numTokens;

  // Vectors each way: my tokens per destination, and every source's to me.
  std::vector<uint64_t> vecTo(R, 0), vecFrom(R, 0);
  int64_t expectRows = 0;
  for (int s = 0; s < R; ++s)
    for (int64_t t = 0; t < routes[s].numTokens; ++t) {
      std::vector<bool> hit(R, false);
      for (int j = 0; j < k; ++j) {
        int32_t e = routes[s].expertIdx[t * k + j];
        if (e < 0) continue;
        hit[e / L] = true;
        if (e / L == me) ++expectRows;
      }
      for (int d = 0; d < R; ++d)
        if (hit[d]) {
          if (s == me) ++vecTo[d];
          if (d == me) ++vecFrom[s];
        }
    }

  samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
  pc.hidden = H;
  pc.dtype = c.dtype;
  pc.maxRecvRows = c.maxRecvRows;
  samHandle_t h = nullptr;
  samResult_t res = samPlanCreate(comm, &c.route, &pc, T, mine.expertIdx.data(), mine.weights.data(), nullptr, &h);
  LAYER_CHECK(res == samSuccess, "samPlanCreate returned %d", res);
  samPlanSizes_t sz;
  LAYER_CHECK(samPlanGetSizes(h, &sz) == samSuccess, "sizes");
  int64_t sendTotal = 0, recvTotal = 0;
  for (int p = 0; p < R; ++p) sendTotal += vecTo[p], recvTotal += vecFrom[p];
  LAYER_CHECK(sz.sendTokens == sendTotal && sz.recvTokens == recvTotal && sz.expertRows == expectRows &&
                  sz.numLocalExperts == L,
              "sizes %lld/%lld/%lld, expected %lld/%lld/%lld", (long long)sz.sendTokens, (long long)sz.recvTokens,
              (long long)sz.expertRows, (long long)sendTotal, (long long)recvTotal, (long long)expectRows);
  std::vector<int64_t> counts(L), offsets(L + 1);
  LAYER_CHECK(samPlanGetExpertCounts(h, counts.data(), offsets.data()) == samSuccess, "counts");

  // Plan creation traffic: the count block to everyone, the metadata.
  TrafficSnapshot zero{std::vector<samTrafficCounter_t>(R * samNumTransports)};
  TrafficSnapshot t0 = snapshot(h, R);
  {
    // Count blocks: 8 int64 of header + 2R int64; metadata: k (int32 + float) per vector.
    // Two exchanges: the blocks of each add one message per non-empty block.
    const uint64_t countBlock = 64 + 16 * R;
    for (int p = 0; p < R; ++p) {
      const samTrafficCounter_t& got = t0.cells[p * samNumTransports + transportTo(c, me, p)];
      uint64_t s = countBlock + vecTo[p] * 8 * k, r = countBlock + vecFrom[p] * 8 * k;
      LAYER_CHECK(got.bytesSent == s && got.bytesReceived == r && got.messagesSent == 1 + (vecTo[p] > 0) &&
                      got.messagesReceived == 1 + (vecFrom[p] > 0),
                  "plan traffic with %d: %llu/%llu bytes, expected %llu/%llu", p, (unsigned long long)got.bytesSent,
                  (unsigned long long)got.bytesReceived, (unsigned long long)s, (unsigned long long)r);
    }
  }

  // Inputs: x [T, H] in dtype.
  std::mt19937_64 g(c.seed * 31 + me);
  std::uniform_real_distribution<float> U(-1.f, 1.f);
  Rows x(c.dtype, H, T), gy(c.dtype, H, T);
  for (int64_t t = 0; t < T; ++t)
    for (int i = 0; i < H; ++i) x.set(t, i, U(g)), gy.set(t, i, U(g));
  const int64_t bufRows = c.maxRecvRows > 0 ? c.maxRecvRows : sz.expertRows;

  // Dispatch.
  Rows expertIn(c.dtype, H, bufRows);
  expertIn.poison();
  LAYER_CHECK(samDispatch(h, x.data(), expertIn.data(), nullptr) == samSuccess, "dispatch");
  TrafficSnapshot t1 = snapshot(h, R);
  std::vector<uint64_t> sendB(R), recvB(R);
  for (int p = 0; p < R; ++p) sendB[p] = vecTo[p] * rowBytes, recvB[p] = vecFrom[p] * rowBytes;
  if (checkTraffic(c, me, t0, t1, sendB, recvB, "dispatch")) return 1;
  for (int64_t r = sz.expertRows; r < bufRows; ++r)
    for (int i = 0; i < H; ++i) LAYER_CHECK(expertIn.get(r, i) == 0.f, "padding row %lld not zeroed", (long long)r);

  // The experts: f_e on each row, e = me * L + local expert of the row's group.
  Rows expertOut(c.dtype, H, sz.expertRows);
  for (int e = 0; e < L; ++e)
    for (int64_t r = offsets[e]; r < offsets[e + 1]; ++r)
      for (int i = 0; i < H; ++i) {
        float v = expertIn.get(r, i);
        LAYER_CHECK(std::isfinite(v), "expertIn row %lld not written", (long long)r);
        expertOut.set(r, i, expertFn(me * L + e, v));
      }
  // Every dispatched row must be one of the x rows routed to that expert:
  // checked through the combine result below (a wrong row changes y).

  // Combine.
  Rows y(c.dtype, H, T);
  y.poison();
  LAYER_CHECK(samCombine(h, expertOut.data(), y.data(), nullptr) == samSuccess, "combine");
  TrafficSnapshot t2 = snapshot(h, R);
  if (checkTraffic(c, me, t1, t2, recvB, sendB, "combine")) return 1;
  for (int64_t t = 0; t < T; ++t)
    for (int i = 0; i < H; ++i) {
      double want = 0, scale = 0;
      for (int j = 0; j < k; ++j) {
        int32_t e = mine.expertIdx[t * k + j];
        if (e < 0) continue;
        double term = mine.weights[t * k + j] * expertFn(e, x.get(t, i));
        want += term;
        scale += std::fabs(term);
      }
      LAYER_CHECK(close(y.get(t, i), want, scale, c.dtype), "y[%lld][%d] = %g, want %g", (long long)t, i,
                  y.get(t, i), want);
    }

  // Combine backward: gradExpertOut = w * gY, gradWeights = <gY, f_e(x)>.
  Rows gExpertOut(c.dtype, H, bufRows);
  gExpertOut.poison();
  std::vector<float> gW(T * k, NAN);
  LAYER_CHECK(samCombineBackward(h, gy.data(), expertOut.data(), gExpertOut.data(), gW.data(), nullptr) == samSuccess,
              "combine backward");
  for (int64_t t = 0; t < T; ++t)
    for (int j = 0; j < k; ++j) {
      int32_t e = mine.expertIdx[t * k + j];
      double want = 0, scale = 0;
      if (e >= 0)
        for (int i = 0; i < H; ++i) {
          double term = gy.get(t, i) * expertFn(e, x.get(t, i));
          want += term;
          scale += std::fabs(term);
        }
      LAYER_CHECK(close(gW[t * k + j], want, scale, c.dtype), "gradWeights[%lld][%d] = %g, want %g", (long long)t, j,
                  gW[t * k + j], want);
    }
  // Dispatch backward of the chain rule through f_e: gradExpertIn = (e+1) *
  // gradExpertOut, so gradX_t = sum_i w_i (e_i + 1) gY_t (the dense dy/dx).
  Rows gExpertIn(c.dtype, H, sz.expertRows);
  for (int e = 0; e < L; ++e)
    for (int64_t r = offsets[e]; r < offsets[e + 1]; ++r)
      for (int i = 0; i < H; ++i) {
        float v = gExpertOut.get(r, i);
        LAYER_CHECK(std::isfinite(v), "gradExpertOut row %lld not written", (long long)r);
        gExpertIn.set(r, i, (me * L + e + 1) * v);
      }
  for (int64_t r = sz.expertRows; r < bufRows; ++r)
    for (int i = 0; i < H; ++i) LAYER_CHECK(gExpertOut.get(r, i) == 0.f, "gradExpertOut padding row not zeroed");
  Rows gx(c.dtype, H, T);
  gx.poison();
  LAYER_CHECK(samDispatchBackward(h, gExpertIn.data(), gx.data(), nullptr) == samSuccess, "dispatch backward");
  for (int64_t t = 0; t < T; ++t)
    for (int i = 0; i < H; ++i) {
      double want = 0, scale = 0;
      for (int j = 0; j < k; ++j) {
        int32_t e = mine.expertIdx[t * k + j];
        if (e < 0) continue;
        double term = mine.weights[t * k + j] * (e + 1) * gy.get(t, i);
        want += term;
        scale += std::fabs(term);
      }
      LAYER_CHECK(close(gx.get(t, i), want, scale, c.dtype), "gradX[%lld][%d] = %g, want %g", (long long)t, i,
                  gx.get(t, i), want);
    }
  // The comm's cumulative counters saw at least what the plan saw.
  for (int p = 0; p < R; ++p) {
    // Read from the communicator itself (samCommGetTraffic belongs to lib/comm).
    samTrafficCounter_t cc = comm->traffic.get(p, transportTo(c, me, p));
    const samTrafficCounter_t pc2 = snapshot(h, R).cells[p * samNumTransports + transportTo(c, me, p)];
    LAYER_CHECK(cc.bytesSent >= pc2.bytesSent && cc.messagesSent >= pc2.messagesSent, "comm counters below plan's with %d: %llu/%llu < %llu/%llu", p, (unsigned long long)cc.bytesSent, (unsigned long long)cc.messagesSent, (unsigned long long)pc2.bytesSent, (unsigned long long)pc2.messagesSent);
  }
  (void)zero;
  LAYER_CHECK(samPlanDestroy(h) == samSuccess, "destroy");
  return 0;
}

}  // namespace samtest
