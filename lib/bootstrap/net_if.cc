#include "bootstrap/net_if.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"

namespace sam {
namespace {

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

bool interfaceMatches(const std::string& spec, const std::string& name) {
  if (spec.empty()) return !startsWith(name, "docker") && !startsWith(name, "virbr");
  if (spec[0] == '^') {
    for (const std::string& p : splitList(spec.substr(1)))
      if (startsWith(name, p)) return false;
    return true;
  }
  if (spec[0] == '=') {
    for (const std::string& p : splitList(spec.substr(1)))
      if (name == p) return true;
    return false;
  }
  for (const std::string& p : splitList(spec))
    if (startsWith(name, p)) return true;
  return false;
}

bool chooseInterface(const std::vector<NetInterface>& ifs, const std::string& spec, NetInterface* out,
                     std::string* why) {
  // Passes, best first: an explicit spec takes loopback like any other name;
  // the default policy takes loopback only when nothing else exists.
  const bool explicitSpec = !spec.empty();
  for (int pass = 0; pass < 4; ++pass) {
    bool wantLoopback = pass >= 2;
    int wantFamily = pass % 2 == 0 ? 4 : 6;
    for (const NetInterface& i : ifs) {
      if (i.linkLocal || i.address.family != wantFamily || !interfaceMatches(spec, i.name)) continue;
      if (!explicitSpec && i.loopback != wantLoopback) continue;
      *out = i;
      return true;
    }
    if (explicitSpec && pass == 1) break;
  }
  std::string names;
  for (const NetInterface& i : ifs) names += (names.empty() ? "" : ",") + i.name;
  *why = "no usable network interface matches SAM_SOCKET_IFNAME='" + spec + "' (up interfaces: " +
         (names.empty() ? "none" : names) + ")";
  return false;
}

std::vector<NetInterface> listInterfaces() {
  std::vector<NetInterface> out;
  struct ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) throwError(samSystemError, std::string("getifaddrs failed: ") + strerror(errno));
  for (struct ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || !(a->ifa_flags & IFF_UP)) continue;
    NetInterface i;
    i.name = a->ifa_name;
    i.loopback = (a->ifa_flags & IFF_LOOPBACK) != 0;
    if (a->ifa_addr->sa_family == AF_INET) {
      i.address.family = 4;
      memcpy(i.address.addr, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, 4);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      i.address.family = 6;
      const in6_addr& v6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr;
      memcpy(i.address.addr, &v6, 16);
      i.linkLocal = IN6_IS_ADDR_LINKLOCAL(&v6);
    } else {
      continue;
    }
    out.push_back(i);
  }
  freeifaddrs(list);
  return out;
}

NetInterface bootstrapInterface() {
  std::string spec = paramString("SAM_SOCKET_IFNAME");
  NetInterface chosen;
  std::string why;
  if (!chooseInterface(listInterfaces(), spec, &chosen, &why)) throwError(samSystemError, why);
  SAM_INFO(LOG_BOOT, "bootstrap interface %s (%s)", chosen.name.c_str(), chosen.address.toString().c_str());
  return chosen;
}

bool parseHostPort(const std::string& text, std::string* host, int* port, std::string* why) {
  std::string h, p;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = "'" + text + "' is not [address]:port";
      return false;
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      *why = "'" + text + "' is not host:port";
      return false;
    }
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  char* end = nullptr;
  long v = p.empty() ? -1 : strtol(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || v < 1 || v > 65535) {
    *why = "'" + text + "' has no valid port (1..65535)";
    return false;
  }
  *host = h;
  *port = static_cast<int>(v);
  return true;
}

bool resolveHost(const std::string& host, int port, RootAddress* out, std::string* why) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    *why = "cannot resolve '" + host + "': " + gai_strerror(rc);
    return false;
  }
  bool found = false;
  for (int wantFamily : {AF_INET, AF_INET6}) {
    for (struct addrinfo* a = res; a != nullptr && !found; a = a->ai_next) {
      if (a->ai_family != wantFamily) continue;
      RootAddress r;
      r.port = static_cast<uint16_t>(port);
      if (wantFamily == AF_INET) {
        r.family = 4;
        memcpy(r.addr, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, 4);
      } else {
        r.family = 6;
        memcpy(r.addr, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, 16);
      }
      *out = r;
      found = true;
    }
  }
  freeaddrinfo(res);
  if (!found) *why = "'" + host + "' has no IPv4 or IPv6 address";
  return found;
}

}  // namespace sam
