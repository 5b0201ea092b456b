#include "peer_svc/local_address.h"

#include "gtest/gtest.h"

namespace swarm::peer_svc {
namespace {

TEST(LocalAddressTest, LoopbackAndUnixSocketsGiveLoopback) {
  EXPECT_EQ(LocalAddressToward("127.0.0.1:5000").value_or("?"), "127.0.0.1");
  EXPECT_EQ(LocalAddressToward("ipv4:127.0.0.1:5000").value_or("?"), "127.0.0.1");
  EXPECT_EQ(LocalAddressToward("unix:/tmp/swarm-cluster.x/coordinator.sock").value_or("?"),
            "127.0.0.1");
  EXPECT_EQ(LocalAddressToward("[::1]:5000").value_or("?"), "::1");
}

TEST(LocalAddressTest, ANameIsResolved) {
  const absl::StatusOr<std::string> ip = LocalAddressToward("dns:///localhost:5000");
  ASSERT_TRUE(ip.ok()) << ip.status();
  EXPECT_TRUE(*ip == "127.0.0.1" || *ip == "::1") << *ip;
}

TEST(LocalAddressTest, TargetsWithoutAPortAreErrors) {
  EXPECT_FALSE(LocalAddressToward("10.0.0.1").ok());
  EXPECT_FALSE(LocalAddressToward("[::1]").ok());
  EXPECT_FALSE(LocalAddressToward("[::1").ok());
}

}  // namespace
}  // namespace swarm::peer_svc
