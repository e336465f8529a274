// samUniqueId: what a rank needs to join a rendezvous, in 128 bytes.
//
// Layout (little-endian): u32 magic "SAMU" | u16 version | u16 family (4 or 6)
// | u16 port | u16 reserved | 16 bytes address (IPv4 in the first 4)
// | 16 bytes secret | 12 reserved zero bytes | u32 FNV-1a checksum of the 56
// bytes before it | zeros. Pure encode/decode (unique_id.cc); secrets in secret.cc.
#pragma once

#include <cstdint>
#include <string>

#include "bootstrap/wire.h"
#include "sam.h"

namespace sam {

struct RootAddress {
  int family = 4;          // 4 or 6
  uint8_t addr[16] = {};   // network byte order; IPv4 uses the first 4 bytes
  uint16_t port = 0;
  std::string toString() const;  // "1.2.3.4:5" or "[::1]:5"
};

struct UniqueIdContents {
  RootAddress root;
  wire::Secret secret{};
};

void encodeUniqueId(const UniqueIdContents& contents, samUniqueId* id);
// False (with the reason) for anything that is not an id made by encodeUniqueId.
bool decodeUniqueId(const samUniqueId& id, UniqueIdContents* contents, std::string* why);

// 128 random bits from the OS (getrandom / /dev/urandom); throws sam::Error.
wire::Secret randomSecret();
// A secret derived from text (weak: anyone who knows the text knows it).
wire::Secret deriveSecret(const std::string& text);
// 32 hex digits -> secret; false if malformed.
bool parseSecretHex(const std::string& hex, wire::Secret* secret);

}  // namespace sam
