#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "bootstrap/unique_id.h"
#include "core/error.h"

namespace sam {
namespace {

uint64_t fnv1a64(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

wire::Secret randomSecret() {
  wire::Secret s{};
  size_t got = 0;
  while (got < s.size()) {
    ssize_t n = getrandom(s.data() + got, s.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throwError(samSystemError, std::string("getrandom failed: ") + strerror(errno));
    got += static_cast<size_t>(n);
  }
  return s;
}

wire::Secret deriveSecret(const std::string& text) {
  wire::Secret s{};
  uint64_t a = fnv1a64(text, 0x9e3779b97f4a7c15ull);
  uint64_t b = fnv1a64(text, 0xc2b2ae3d27d4eb4full);
  for (int i = 0; i < 8; ++i) {
    s[i] = static_cast<uint8_t>(a >> (8 * i));
    s[8 + i] = static_cast<uint8_t>(b >> (8 * i));
  }
  return s;
}

bool parseSecretHex(const std::string& hex, wire::Secret* secret) {
  if (hex.size() != 2 * wire::kSecretBytes) return false;
  wire::Secret s{};
  for (size_t i = 0; i < hex.size(); ++i) {
    char ch = hex[i];
    int v = (ch >= '0' && ch <= '9') ? ch - '0'
            : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
            : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                       : -1;
    if (v < 0) return false;
    s[i / 2] = static_cast<uint8_t>(s[i / 2] | (i % 2 == 0 ? v << 4 : v));
  }
  *secret = s;
  return true;
}

}  // namespace sam
