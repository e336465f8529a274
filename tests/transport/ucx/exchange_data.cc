#include "exchange_data.h"

#include <algorithm>
#include <cstring>

namespace sam::test {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t blockKey(uint64_t seed, uint64_t seq, int src, int dst) {
  return mix(seed ^ mix(seq ^ mix(static_cast<uint64_t>(src) * 1000003u + static_cast<uint64_t>(dst))));
}

void fillBlock(uint8_t* p, size_t n, uint64_t key) {
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = mix(key + i / 8);
    std::memcpy(p + i, &v, std::min<size_t>(8, n - i));
  }
}

// Index of the first byte that differs from fillBlock's, or n.
size_t firstMismatch(const uint8_t* p, size_t n, uint64_t key) {
  uint8_t want[8];
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = mix(key + i / 8);
    std::memcpy(want, &v, 8);
    const size_t len = std::min<size_t>(8, n - i);
    for (size_t j = 0; j < len; ++j)
      if (p[i + j] != want[j]) return i + j;
  }
  return n;
}

}  // namespace

size_t randomBlockSize(uint64_t seed, uint64_t seq, int src, int dst) {
  const uint64_t h = mix(blockKey(seed, seq, src, dst) ^ 0x51f15eedull);
  const uint64_t r = h >> 8;
  switch (h % 8) {
    case 0:
    case 1: return 0;
    case 2: return 1 + r % 7;
    case 3: return r % 300;
    case 4:
    case 5: return 1 + r % 70000;
    case 6: return 4096 + r % 3;
    default: return (size_t{1} << 20) + r % (size_t{3} << 20);
  }
}

ExchangeSpec ExchangeData::spec() const {
  ExchangeSpec s;
  s.send = send.data();
  s.sendOffsets = sendOffsets.data();
  s.sendBytes = sendBytes.data();
  s.recv = const_cast<uint8_t*>(recv.data());
  s.recvOffsets = recvOffsets.data();
  s.recvBytes = recvBytes.data();
  return s;
}

ExchangeData makeExchange(uint64_t seed, uint64_t seq, int rank, int nranks, SizeRule size) {
  ExchangeData x;
  const size_t n = static_cast<size_t>(nranks);
  x.sendOffsets.assign(n, 0);
  x.sendBytes.assign(n, 0);
  x.recvOffsets.assign(n, 0);
  x.recvBytes.assign(n, 0);
  // Peers in ascending order on even seq, descending on odd, with a gap of
  // 0..63 bytes before each block: offsets are not simply prefix sums.
  size_t sendEnd = 0, recvEnd = 0;
  for (int i = 0; i < nranks; ++i) {
    const int p = seq % 2 == 0 ? i : nranks - 1 - i;
    if (p == rank) continue;
    x.sendBytes[p] = size(seed, seq, rank, p);
    x.recvBytes[p] = size(seed, seq, p, rank);
    x.sendOffsets[p] = sendEnd + mix(blockKey(seed, seq, rank, p) ^ 1) % 64;
    x.recvOffsets[p] = recvEnd + mix(blockKey(seed, seq, p, rank) ^ 2) % 64;
    sendEnd = x.sendOffsets[p] + x.sendBytes[p];
    recvEnd = x.recvOffsets[p] + x.recvBytes[p];
  }
  x.send.assign(sendEnd + 1, 0);
  x.recv.assign(recvEnd + 1, kPoison);  // +1: never an empty vector, a poisoned tail
  for (int p = 0; p < nranks; ++p)
    if (p != rank) fillBlock(x.send.data() + x.sendOffsets[p], x.sendBytes[p], blockKey(seed, seq, rank, p));
  return x;
}

std::string checkReceived(const ExchangeData& x, uint64_t seed, uint64_t seq, int rank, int nranks) {
  std::vector<int> everyone;
  for (int p = 0; p < nranks; ++p)
    if (p != rank) everyone.push_back(p);
  return checkReceived(x, seed, seq, rank, nranks, everyone);
}

std::string checkReceived(const ExchangeData& x, uint64_t seed, uint64_t seq, int rank, int nranks,
                          const std::vector<int>& served) {
  std::vector<bool> inBlock(x.recv.size(), false);
  for (int p : served) {
    const uint8_t* got = x.recv.data() + x.recvOffsets[p];
    const size_t bad = firstMismatch(got, x.recvBytes[p], blockKey(seed, seq, p, rank));
    if (bad != x.recvBytes[p])
      return "exchange " + std::to_string(seq) + ": block from rank " + std::to_string(p) + " (" +
             std::to_string(x.recvBytes[p]) + " bytes) differs at byte " + std::to_string(bad);
    std::fill(inBlock.begin() + static_cast<std::ptrdiff_t>(x.recvOffsets[p]),
              inBlock.begin() + static_cast<std::ptrdiff_t>(x.recvOffsets[p] + x.recvBytes[p]), true);
  }
  for (size_t i = 0; i < x.recv.size(); ++i)
    if (!inBlock[i] && x.recv[i] != kPoison)
      return "exchange " + std::to_string(seq) + ": byte " + std::to_string(i) +
             " outside the blocks of the served peers was written";
  return "";
}

}  // namespace sam::test
