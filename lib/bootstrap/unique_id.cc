#include "bootstrap/unique_id.h"

#include <arpa/inet.h>

#include <cstring>


namespace sam {
namespace {

constexpr uint32_t kIdMagic = 0x554d4153u;  // "SAMU" as bytes
constexpr uint16_t kIdVersion = 1;
constexpr size_t kChecksummed = 56;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

uint32_t fnv1a32(const uint8_t* p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
  return h;
}

}  // namespace

std::string RootAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, buf, sizeof(buf));
  return family == 6 ? "[" + std::string(buf) + "]:" + std::to_string(port)
                     : std::string(buf) + ":" + std::to_string(port);
}

void encodeUniqueId(const UniqueIdContents& c, samUniqueId* id) {
  memset(id, 0, sizeof(*id));
  uint8_t* p = reinterpret_cast<uint8_t*>(id->internal);
  put32(p, kIdMagic);
  put16(p + 4, kIdVersion);
  put16(p + 6, static_cast<uint16_t>(c.root.family));
  put16(p + 8, c.root.port);
  memcpy(p + 12, c.root.addr, 16);
  memcpy(p + 28, c.secret.data(), wire::kSecretBytes);
  static_assert(28 + wire::kSecretBytes == kChecksummed - 12, "layout");
  put32(p + 44, 0);  // reserved, checksummed as zero
  put32(p + 48, 0);
  put32(p + 52, 0);
  put32(p + kChecksummed, fnv1a32(p, kChecksummed));
}

bool decodeUniqueId(const samUniqueId& id, UniqueIdContents* c, std::string* why) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(id.internal);
  auto no = [&](const char* reason) {
    *why = reason;
    return false;
  };
  if (get32(p) != kIdMagic) return no("bad magic: not made by samGetUniqueId");
  if (get16(p + 4) != kIdVersion) return no("made by an incompatible libsam version");
  if (get32(p + kChecksummed) != fnv1a32(p, kChecksummed)) return no("checksum mismatch: the id was corrupted");
  for (size_t i = kChecksummed + 4; i < SAM_UNIQUE_ID_BYTES; ++i)
    if (p[i] != 0) return no("non-zero padding: the id was corrupted");
  if (get16(p + 10) != 0) return no("non-zero reserved field");
  // Bytes 44..55 are reserved as zero: a checksum is no proof against a
  // forger (the fuzzer found an id with a matching checksum and junk there).
  for (size_t i = 44; i < kChecksummed; ++i)
    if (p[i] != 0) return no("non-zero reserved field");
  uint16_t family = get16(p + 6);
  if (family != 4 && family != 6) return no("unknown address family");
  uint16_t port = get16(p + 8);
  if (port == 0) return no("port 0");
  c->root.family = family;
  c->root.port = port;
  memcpy(c->root.addr, p + 12, 16);
  memcpy(c->secret.data(), p + 28, wire::kSecretBytes);
  return true;
}

}  // namespace sam
