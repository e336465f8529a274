// Which address the bootstrap root listens on, and how a "host:port" text
// becomes an address. SAM_SOCKET_IFNAME follows NCCL_SOCKET_IFNAME:
//   "eth,ib"     names starting with one of the prefixes
//   "^docker,lo" every name except those starting with the prefixes
//   "=eth0"      exactly these names
// Unset: the first interface that is up and not loopback (nor docker*/virbr*),
// IPv4 before IPv6; loopback only when there is nothing else.
#pragma once

#include <string>
#include <vector>

#include "bootstrap/unique_id.h"

namespace sam {

struct NetInterface {
  std::string name;
  RootAddress address;  // port unused
  bool loopback = false;
  bool linkLocal = false;  // IPv6 fe80::/10: needs a scope id, never chosen
};

// Up interfaces with an IPv4 or IPv6 address, in getifaddrs order.
std::vector<NetInterface> listInterfaces();
// Does `name` pass the SAM_SOCKET_IFNAME-style `spec` ("" = default policy)?
bool interfaceMatches(const std::string& spec, const std::string& name);
// Pure choice among `ifs` by `spec`; false with the reason when none fits.
bool chooseInterface(const std::vector<NetInterface>& ifs, const std::string& spec, NetInterface* out,
                     std::string* why);
// The address this process's root should listen on (SAM_SOCKET_IFNAME); throws sam::Error.
NetInterface bootstrapInterface();

// "host:port", "[v6addr]:port"; host may be a name (resolved, IPv4 first).
bool parseHostPort(const std::string& text, std::string* host, int* port, std::string* why);
bool resolveHost(const std::string& host, int port, RootAddress* out, std::string* why);

}  // namespace sam
