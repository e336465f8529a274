#include "comm/cluster.h"

#include <unistd.h>

#include <fstream>
#include <map>

#include "core/params.h"

namespace sam {
namespace {

constexpr uint32_t kInfoVersion = 1;

class Writer {
 public:
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) s_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void i32(int v) { u32(static_cast<uint32_t>(v)); }
  void str(const std::string& v) {
    u32(static_cast<uint32_t>(v.size()));
    s_ += v;
  }
  std::string take() { return std::move(s_); }

 private:
  std::string s_;
};

class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}
  bool u32(uint32_t* v) {
    if (s_.size() - at_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(static_cast<uint8_t>(s_[at_ + i])) << (8 * i);
    at_ += 4;
    return true;
  }
  bool i32(int* v) {
    uint32_t u;
    if (!u32(&u)) return false;
    *v = static_cast<int>(u);
    return true;
  }
  bool str(std::string* v) {
    uint32_t n;
    if (!u32(&n) || s_.size() - at_ < n) return false;
    v->assign(s_, at_, n);
    at_ += n;
    return true;
  }
  bool atEnd() const { return at_ == s_.size(); }

 private:
  const std::string& s_;
  size_t at_ = 0;
};

std::string rankList(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) s += (i ? "," : "") + std::to_string(ranks[i]);
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

// "ranks disagree on FIELD: V1 on ranks a,b; V2 on rank c", or "".
template <typename Get>
std::string disagreement(const std::vector<RankInfo>& infos, const char* field, Get get) {
  std::map<std::string, std::vector<int>> byValue;
  for (const RankInfo& i : infos) byValue[get(i)].push_back(i.rank);
  if (byValue.size() <= 1) return "";
  std::string s = std::string("ranks disagree on ") + field + ":";
  for (auto& kv : byValue) s += " " + kv.first + " on " + rankList(kv.second) + ";";
  s.pop_back();
  return s;
}

}  // namespace

std::string encodeRankInfo(const RankInfo& info) {
  Writer w;
  w.u32(kInfoVersion);
  w.i32(info.rank);
  w.i32(info.nranks);
  w.i32(info.backend);
  w.i32(info.timeoutMs);
  w.i32(info.cudaDevice);
  w.str(info.hostId);
  w.str(info.gpuBusId);
  w.str(info.hostName);
  w.i32(info.pid);
  w.i32(info.cpus);
  return w.take();
}

bool decodeRankInfo(const std::string& bytes, RankInfo* info, std::string* why) {
  Reader r(bytes);
  uint32_t version = 0;
  if (!r.u32(&version) || version != kInfoVersion) {
    *why = "rank info of an incompatible libsam version";
    return false;
  }
  RankInfo i;
  bool ok = r.i32(&i.rank) && r.i32(&i.nranks) && r.i32(&i.backend) && r.i32(&i.timeoutMs) && r.i32(&i.cudaDevice) &&
            r.str(&i.hostId) && r.str(&i.gpuBusId) && r.str(&i.hostName) && r.i32(&i.pid) && r.i32(&i.cpus) &&
            r.atEnd();
  if (!ok) {
    *why = "truncated or malformed rank info";
    return false;
  }
  *info = i;
  return true;
}

std::string localHostId() {
  if (paramIsSet("SAM_HOST_ID")) return paramString("SAM_HOST_ID");
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::string bootId;
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::getline(f, bootId);
  // The boot id tells apart containers that share a hostname on different machines.
  return std::string(host) + "/" + trim(bootId);
}

RankInfo localRankInfo(int rank, int nranks, const CommConfig& config) {
  RankInfo i;
  i.rank = rank;
  i.nranks = nranks;
  i.backend = config.backend;
  i.timeoutMs = config.timeoutMs;
  i.cudaDevice = config.cudaDevice;
  i.hostId = localHostId();
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  i.hostName = host;
  i.pid = static_cast<int>(getpid());
  i.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  return i;
}

std::string checkAgreement(const std::vector<RankInfo>& infos) {
  for (size_t r = 0; r < infos.size(); ++r)
    if (infos[r].rank != static_cast<int>(r))
      return "rank " + std::to_string(r) + " sent the info of rank " + std::to_string(infos[r].rank);
  std::string s = disagreement(infos, "nranks", [](const RankInfo& i) { return std::to_string(i.nranks); });
  if (s.empty())
    s = disagreement(infos, "backend", [](const RankInfo& i) { return std::string(i.backend == samBackendCuda ? "cuda" : "host"); });
  if (s.empty())
    s = disagreement(infos, "timeoutMs", [](const RankInfo& i) { return std::to_string(i.timeoutMs); });
  return s;
}

ClusterView buildClusterView(const std::vector<RankInfo>& infos) {
  const int n = static_cast<int>(infos.size());
  ClusterView v;
  std::map<std::string, int> nodeOf;
  for (const RankInfo& i : infos) {
    auto it = nodeOf.find(i.hostId);
    int node;
    if (it == nodeOf.end()) {
      node = static_cast<int>(v.nodeRanks.size());
      nodeOf[i.hostId] = node;
      v.nodeRanks.emplace_back();
    } else {
      node = it->second;
    }
    v.hostIds.push_back(i.hostId);
    v.rankNode.push_back(node);
    v.localRank.push_back(static_cast<int>(v.nodeRanks[node].size()));
    v.nodeRanks[node].push_back(i.rank);
    v.gpuBusId.push_back(i.gpuBusId);
  }
  v.links.resize(static_cast<size_t>(n) * n);
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b)
      v.links[static_cast<size_t>(a) * n + b] = a == b ? samLinkSelf : v.sameNode(a, b) ? samLinkNode : samLinkNet;
  return v;
}

}  // namespace sam
