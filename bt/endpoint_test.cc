#include "bt/endpoint.h"

#include <string>

#include "absl/container/flat_hash_set.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

std::string Key(std::string_view ip, uint32_t port) {
  absl::StatusOr<Endpoint> e = Endpoint::Make(ip, port);
  return e.ok() ? e->ToString() : "error: " + std::string(e.status().message());
}

// Every form in which a tracker (text or compact bytes), a worker (Register.listen_ip, the
// gRPC peer of its stream) or a peer (an accepted socket) can name one address gives one key.
TEST(EndpointTest, EveryFormOfOneAddressIsOneKey) {
  EXPECT_EQ(Key("10.0.0.1", 6881), "10.0.0.1:6881");
  EXPECT_EQ(Key("::ffff:10.0.0.1", 6881), "10.0.0.1:6881");
  EXPECT_EQ(Key("::FFFF:10.0.0.1", 6881), "10.0.0.1:6881");
  EXPECT_EQ(Key("::ffff:a00:1", 6881), "10.0.0.1:6881");
  EXPECT_EQ(Key("::1", 51413), "[::1]:51413");
  EXPECT_EQ(Key("::0001", 51413), "[::1]:51413");
  EXPECT_EQ(Key("0:0:0:0:0:0:0:1", 51413), "[::1]:51413");
  EXPECT_EQ(Key("2001:DB8:0:0:0:0:0:1", 80), "[2001:db8::1]:80");
  EXPECT_EQ(Key("2001:db8::1", 80), "[2001:db8::1]:80");

  const std::string mapped("\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\0\0\x01", 16);
  absl::StatusOr<IpAddress> from_bytes = IpAddress::FromBytes(mapped);
  ASSERT_TRUE(from_bytes.ok());
  EXPECT_EQ(from_bytes->ToString(), "10.0.0.1");
  EXPECT_TRUE(from_bytes->is_v4());
  EXPECT_EQ(from_bytes->bytes(), std::string("\x0a\0\0\x01", 4));
  EXPECT_EQ(*from_bytes, *IpAddress::Parse("10.0.0.1"));

  absl::StatusOr<Endpoint> parsed = Endpoint::Parse("[::ffff:10.0.0.1]:6881");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, *Endpoint::Make("10.0.0.1", 6881));
  absl::flat_hash_set<Endpoint> set = {*parsed, *Endpoint::Make("10.0.0.1", 6881)};
  EXPECT_EQ(set.size(), 1u);
}

TEST(EndpointTest, ToStringParsesBack) {
  for (const char* text : {"1.2.3.4:1", "255.255.255.255:65535", "[::1]:6881",
                           "[2001:db8::ff00:42:8329]:443", "[fe80::1]:2"}) {
    absl::StatusOr<Endpoint> e = Endpoint::Parse(text);
    ASSERT_TRUE(e.ok()) << text << ": " << e.status();
    EXPECT_EQ(e->ToString(), text);
  }
}

TEST(EndpointTest, RefusesWhatIsNotANumericAddressAndPort) {
  for (const char* ip : {"", "localhost", "tracker.example.com", "1.2.3", "1.2.3.4.5", "256.1.1.1",
                         "01.2.3.4", " 1.2.3.4", "1.2.3.4 ", "[::1]", "fe80::1%eth0", "::1::2",
                         "1.2.3.4:80", "0123456789012345678901234567890123456789abcdef"}) {
    EXPECT_FALSE(IpAddress::Parse(ip).ok()) << ip;
  }
  EXPECT_FALSE(IpAddress::Parse(std::string("1.2.3.4\0", 8)).ok());
  EXPECT_FALSE(Endpoint::Make("1.2.3.4", 0).ok());
  EXPECT_FALSE(Endpoint::Make("1.2.3.4", 65536).ok());
  EXPECT_TRUE(Endpoint::Make("1.2.3.4", 65535).ok());
  for (const char* text : {"", ":", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536",
                           "1.2.3.4:+80", "1.2.3.4:-1", "1.2.3.4:8o", "1.2.3.4:000080", "::1:80",
                           "[::1]", "[::1]80", "[::1:80", "[1.2.3.4]x:80", "host:80"}) {
    EXPECT_FALSE(Endpoint::Parse(text).ok()) << text;
  }
  for (size_t n : {0, 3, 5, 15, 17}) {
    EXPECT_FALSE(IpAddress::FromBytes(std::string(n, '\x01')).ok()) << n;
  }
}

TEST(EndpointTest, ErrorsQuoteHostileTextSafely) {
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(std::string("\x01\n\"evil", 7));
  ASSERT_FALSE(ip.ok());
  EXPECT_EQ(ip.status().message().find('\n'), absl::string_view::npos);
  absl::StatusOr<Endpoint> long_one = Endpoint::Parse(std::string(10000, 'a'));
  ASSERT_FALSE(long_one.ok());
  EXPECT_LT(long_one.status().message().size(), 200u);
}

TEST(IpAddressTest, ParsesAndFormats) {
  absl::StatusOr<IpAddress> v4 = IpAddress::Parse("1.2.3.4");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->bytes(), "\x01\x02\x03\x04");
  absl::StatusOr<IpAddress> v6 = IpAddress::Parse("2001:DB8:0:0::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_FALSE(v6->is_v4());
  EXPECT_EQ(v6->ToString(), "2001:db8::1");
  EXPECT_FALSE(IpAddress::Parse("tracker.example").ok());
  EXPECT_FALSE(IpAddress::Parse("1.2.3.4.5").ok());
  EXPECT_FALSE(IpAddress::Parse("").ok());
  EXPECT_FALSE(IpAddress::Parse(std::string(100, '1')).ok());
  EXPECT_FALSE(IpAddress::Parse(std::string("1.2.3.4\0", 8)).ok());
  EXPECT_FALSE(IpAddress::FromBytes("abc").ok());
}

TEST(EndpointTest, LoopbackAndUnspecified) {
  EXPECT_TRUE(IpAddress::Parse("127.0.0.1")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("127.9.8.7")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("::1")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("::ffff:127.0.0.2")->IsLoopback());
  EXPECT_FALSE(IpAddress::Parse("10.0.0.1")->IsLoopback());
  EXPECT_FALSE(IpAddress::Parse("::2")->IsLoopback());
  EXPECT_TRUE(IpAddress::Parse("0.0.0.0")->IsUnspecified());
  EXPECT_TRUE(IpAddress::Parse("::")->IsUnspecified());
  EXPECT_FALSE(IpAddress::Parse("::1")->IsUnspecified());
  EXPECT_TRUE(IpAddress().IsUnspecified());
  EXPECT_EQ(Endpoint().ToString(), "0.0.0.0:0");
}

}  // namespace
}  // namespace swarm::bt
