#include "coordinator/worker_address.h"

#include <string>

#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

pb::Register Listening(uint32_t port, const std::string& ip = "") {
  pb::Register r;
  r.set_peer_id(std::string(20, 'p'));
  r.set_listen_port(port);
  r.set_listen_ip(ip);
  return r;
}

TEST(HostOfPeerTest, IpKinds) {
  EXPECT_EQ(HostOfPeer("ipv4:127.0.0.1:5000"), "127.0.0.1");
  EXPECT_EQ(HostOfPeer("ipv6:[::1]:5000"), "::1");
  EXPECT_EQ(HostOfPeer("ipv6:%5B2001:db8::2%5D:5000"), "2001:db8::2");
  EXPECT_EQ(HostOfPeer("unix:/tmp/socket"), "");
  EXPECT_EQ(HostOfPeer("garbage"), "");
}

TEST(ResolveWorkerAddressTest, NotListening) {
  pb::Register r;
  r.set_listen_ip("10.0.0.1");  // ignored without a port
  absl::StatusOr<WorkerAddress> a = ResolveWorkerAddress(r, "ipv4:10.0.0.9:1");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->listens());
  EXPECT_EQ(a->key, "");
  EXPECT_EQ(a->announce_ip, "");
}

TEST(ResolveWorkerAddressTest, ExplicitListenIpIsAnnounced) {
  absl::StatusOr<WorkerAddress> a =
      ResolveWorkerAddress(Listening(6881, "127.0.0.2"), "ipv4:127.0.0.1:40000");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->port, 6881u);
  EXPECT_EQ(a->key, "127.0.0.2:6881");
  EXPECT_EQ(a->announce_ip, "127.0.0.2");
  a = ResolveWorkerAddress(Listening(6881, "2001:DB8:0::7"), "ipv4:127.0.0.1:40000");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->key, "[2001:db8::7]:6881");
  EXPECT_EQ(a->announce_ip, "2001:db8::7");
}

TEST(ResolveWorkerAddressTest, WithoutListenIpTheStreamsAddressCounts) {
  // Loopback: on the coordinator's machine; the tracker sees that machine anyway.
  absl::StatusOr<WorkerAddress> a = ResolveWorkerAddress(Listening(7000), "ipv4:127.0.0.1:1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->key, "127.0.0.1:7000");
  EXPECT_EQ(a->announce_ip, "");
  a = ResolveWorkerAddress(Listening(7000), "ipv6:[::1]:1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->key, "[::1]:7000");
  EXPECT_EQ(a->announce_ip, "");
  // Another machine: announced at the address it connects from.
  a = ResolveWorkerAddress(Listening(7000), "ipv4:192.168.1.20:55555");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->key, "192.168.1.20:7000");
  EXPECT_EQ(a->announce_ip, "192.168.1.20");
  // A dual-stack listener reports IPv4 clients as mapped IPv6: back to IPv4.
  a = ResolveWorkerAddress(Listening(7000), "ipv6:[::ffff:192.168.1.20]:55555");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->key, "192.168.1.20:7000");
  // "Any address" is no address: the stream's counts.
  a = ResolveWorkerAddress(Listening(7000, "0.0.0.0"), "ipv4:192.168.1.20:55555");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->key, "192.168.1.20:7000");
  EXPECT_EQ(a->announce_ip, "192.168.1.20");
  // Not over IP: listening, but with no key and nothing to announce as ip.
  a = ResolveWorkerAddress(Listening(7000), "unix:/tmp/s");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->listens());
  EXPECT_EQ(a->key, "");
}

TEST(ResolveWorkerAddressTest, BadRegistrationsAreClearErrors) {
  EXPECT_EQ(ResolveWorkerAddress(Listening(70000), "ipv4:127.0.0.1:1").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<WorkerAddress> a =
      ResolveWorkerAddress(Listening(6881, "peer.example"), "ipv4:127.0.0.1:1");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("listen_ip"), absl::string_view::npos);
  EXPECT_FALSE(ResolveWorkerAddress(Listening(6881, std::string("1.2.3.4\0", 8)), "").ok());
  pb::Register short_id = Listening(6881);
  short_id.set_peer_id("short");
  a = ResolveWorkerAddress(short_id, "ipv4:127.0.0.1:1");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("20-byte peer_id"), absl::string_view::npos);
  short_id.set_listen_port(0);  // a worker that does not listen is never announced
  EXPECT_TRUE(ResolveWorkerAddress(short_id, "ipv4:127.0.0.1:1").ok());
}

}  // namespace
}  // namespace swarm::coordinator
