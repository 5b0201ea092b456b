#include "bt/dialable.h"

#include <string>

#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

IpAddress Ip(const std::string& text) {
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(text);
  EXPECT_TRUE(ip.ok()) << text;
  return ip.ok() ? *ip : IpAddress();
}

TEST(DialableTest, NobodyIsReachedAtTheseFromAnySource) {
  for (const char* source : {"127.0.0.1", "10.0.0.1", "203.0.113.5"}) {
    for (const char* peer : {"0.0.0.0", "::", "0.1.2.3", "224.0.0.1", "239.255.255.250",
                             "255.255.255.255", "240.0.0.1", "ff02::1"}) {
      EXPECT_FALSE(IsDialablePeer(Ip(peer), Ip(source))) << peer << " from " << source;
    }
  }
}

TEST(DialableTest, PublicPeersComeFromAnywhere) {
  for (const char* source : {"127.0.0.1", "::1", "192.168.1.1", "203.0.113.5", "2001:db8::1"}) {
    EXPECT_TRUE(IsDialablePeer(Ip("198.51.100.7"), Ip(source))) << source;
    EXPECT_TRUE(IsDialablePeer(Ip("2001:db8::7"), Ip(source))) << source;
  }
}

TEST(DialableTest, LoopbackAndPrivatePeersOnlyFromSourcesThere) {
  const char* private_peers[] = {"10.1.2.3",   "172.16.0.1",  "172.31.255.254", "192.168.0.9",
                                 "100.64.0.1", "169.254.1.1", "fd00::1",        "fe80::1"};
  for (const char* peer : private_peers) {
    EXPECT_TRUE(IsDialablePeer(Ip(peer), Ip("127.0.0.1"))) << peer;
    EXPECT_TRUE(IsDialablePeer(Ip(peer), Ip("10.77.0.2"))) << peer;
    EXPECT_FALSE(IsDialablePeer(Ip(peer), Ip("203.0.113.5"))) << peer;
  }
  EXPECT_TRUE(IsDialablePeer(Ip("127.0.0.1"), Ip("127.0.0.1")));
  EXPECT_TRUE(IsDialablePeer(Ip("::1"), Ip("127.0.0.1")));
  EXPECT_FALSE(IsDialablePeer(Ip("127.0.0.1"), Ip("10.0.0.1")));
  EXPECT_FALSE(IsDialablePeer(Ip("127.0.0.1"), Ip("203.0.113.5")));
  // Just outside the private ranges: public.
  EXPECT_TRUE(IsDialablePeer(Ip("172.32.0.1"), Ip("203.0.113.5")));
  EXPECT_TRUE(IsDialablePeer(Ip("100.128.0.1"), Ip("203.0.113.5")));
}

}  // namespace
}  // namespace swarm::bt
