// SAM_SOCKET_IFNAME semantics and host:port parsing.
#include <gtest/gtest.h>

#include "bootstrap/net_if.h"

namespace {

sam::NetInterface iface(const std::string& name, int family, bool loopback, bool linkLocal = false) {
  sam::NetInterface i;
  i.name = name;
  i.address.family = family;
  i.address.addr[0] = static_cast<uint8_t>(name.size());
  i.loopback = loopback;
  i.linkLocal = linkLocal;
  return i;
}

std::string choose(const std::vector<sam::NetInterface>& ifs, const std::string& spec) {
  sam::NetInterface out;
  std::string why;
  if (!sam::chooseInterface(ifs, spec, &out, &why)) return "none: " + why;
  return out.name + "/v" + std::to_string(out.address.family);
}

}  // namespace

TEST(NetIf, MatchingFollowsNcclSemantics) {
  EXPECT_TRUE(sam::interfaceMatches("eth", "eth0"));
  EXPECT_TRUE(sam::interfaceMatches("ib,eth", "eth12"));
  EXPECT_FALSE(sam::interfaceMatches("ib", "eth0"));
  EXPECT_FALSE(sam::interfaceMatches("^eth,lo", "eth0"));
  EXPECT_TRUE(sam::interfaceMatches("^eth,lo", "ib0"));
  EXPECT_TRUE(sam::interfaceMatches("=eth0", "eth0"));
  EXPECT_FALSE(sam::interfaceMatches("=eth0", "eth01"));
  EXPECT_FALSE(sam::interfaceMatches("", "docker0"));
  EXPECT_TRUE(sam::interfaceMatches("", "enp1s0"));
}

TEST(NetIf, DefaultAvoidsLoopbackAndPrefersIpv4) {
  std::vector<sam::NetInterface> ifs = {iface("lo", 4, true), iface("lo", 6, true), iface("docker0", 4, false),
                                        iface("eth0", 6, false, true), iface("eth0", 6, false),
                                        iface("eth0", 4, false)};
  EXPECT_EQ(choose(ifs, ""), "eth0/v4");
  EXPECT_EQ(choose({iface("lo", 4, true), iface("eth0", 6, false)}, ""), "eth0/v6");
  EXPECT_EQ(choose({iface("lo", 6, true), iface("lo", 4, true)}, ""), "lo/v4");  // nothing else: loopback
  EXPECT_EQ(choose({iface("eth0", 6, false, true)}, ""), "none: no usable network interface matches SAM_SOCKET_IFNAME='' (up interfaces: eth0)");
  EXPECT_EQ(choose(ifs, "lo"), "lo/v4");
  EXPECT_EQ(choose(ifs, "docker"), "docker0/v4");
  EXPECT_EQ(choose(ifs, "^eth,lo"), "docker0/v4");
  std::string none = choose(ifs, "ib");
  EXPECT_NE(none.find("SAM_SOCKET_IFNAME='ib'"), std::string::npos) << none;
  EXPECT_NE(none.find("lo,lo,docker0,eth0"), std::string::npos) << none;
}

TEST(NetIf, ThisMachineHasAnInterface) {
  auto ifs = sam::listInterfaces();
  ASSERT_FALSE(ifs.empty());
  bool hasLo = false;
  for (auto& i : ifs) hasLo = hasLo || i.loopback;
  EXPECT_TRUE(hasLo);
}

TEST(NetIf, HostPortParsing) {
  std::string host, why;
  int port = 0;
  ASSERT_TRUE(sam::parseHostPort("node1:29500", &host, &port, &why)) << why;
  EXPECT_EQ(host, "node1");
  EXPECT_EQ(port, 29500);
  ASSERT_TRUE(sam::parseHostPort("[fd00::2]:80", &host, &port, &why)) << why;
  EXPECT_EQ(host, "fd00::2");
  EXPECT_FALSE(sam::parseHostPort("node1", &host, &port, &why));
  EXPECT_FALSE(sam::parseHostPort("node1:0", &host, &port, &why));
  EXPECT_FALSE(sam::parseHostPort("node1:70000", &host, &port, &why));
  EXPECT_FALSE(sam::parseHostPort("node1:12ab", &host, &port, &why));
  EXPECT_FALSE(sam::parseHostPort(":5", &host, &port, &why));
  EXPECT_FALSE(sam::parseHostPort("[::1]5", &host, &port, &why));
  sam::RootAddress a;
  ASSERT_TRUE(sam::resolveHost("127.0.0.1", 7, &a, &why)) << why;
  EXPECT_EQ(a.toString(), "127.0.0.1:7");
  ASSERT_TRUE(sam::resolveHost("localhost", 7, &a, &why)) << why;
  EXPECT_FALSE(sam::resolveHost("no-such-host.invalid", 7, &a, &why));
  EXPECT_NE(why.find("no-such-host.invalid"), std::string::npos);
}
