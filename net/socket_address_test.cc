#include "net/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>

#include "gtest/gtest.h"

namespace swarm::net {
namespace {

TEST(SocketAddressTest, RoundTripsBothFamilies) {
  for (const char* text : {"10.0.0.1:6881", "[2001:db8::1]:443", "[::1]:1"}) {
    absl::StatusOr<bt::Endpoint> e = bt::Endpoint::Parse(text);
    ASSERT_TRUE(e.ok()) << text;
    SocketAddress s = ToSocketAddress(*e);
    EXPECT_EQ(s.family(), e->ip().is_v4() ? AF_INET : AF_INET6);
    EXPECT_EQ(s.size, e->ip().is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    absl::StatusOr<bt::Endpoint> back = FromSocketAddress(s.storage);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, *e);
  }
}

// A dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d; the coordinator and the
// trackers know that peer as a.b.c.d.
TEST(SocketAddressTest, MappedIpv4IsIpv4) {
  sockaddr_storage storage;
  std::memset(&storage, 0, sizeof(storage));
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(51234);
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.3", &v6->sin6_addr), 1);
  absl::StatusOr<bt::Endpoint> e = FromSocketAddress(storage);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ToString(), "127.0.0.3:51234");
}

TEST(SocketAddressTest, PortGivenOrRefused) {
  SocketAddress s = ToSocketAddress(*bt::IpAddress::Parse("192.0.2.7"), 0);
  EXPECT_FALSE(FromSocketAddress(s.storage).ok());  // port 0
  absl::StatusOr<bt::Endpoint> e = FromSocketAddress(s.get(), 6969);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ToString(), "192.0.2.7:6969");
  sockaddr_storage unix_addr;
  std::memset(&unix_addr, 0, sizeof(unix_addr));
  unix_addr.ss_family = AF_UNIX;
  EXPECT_FALSE(FromSocketAddress(unix_addr).ok());
}

TEST(SocketAddressTest, ParseAndBoundPort) {
  EXPECT_FALSE(ParseSocketAddress("localhost", 0).ok());  // numeric addresses only
  absl::StatusOr<SocketAddress> any = ParseSocketAddress("127.0.0.1", 0);
  ASSERT_TRUE(any.ok());
  const int fd = socket(any->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(bind(fd, any->get(), any->size), 0);
  absl::StatusOr<uint16_t> port = BoundPort(fd);
  close(fd);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_NE(*port, 0);
  EXPECT_FALSE(BoundPort(-1).ok());
}

}  // namespace
}  // namespace swarm::net
