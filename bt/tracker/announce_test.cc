#include "bt/tracker/announce.h"

#include <string>

#include "gtest/gtest.h"

namespace swarm::bt::tracker {
namespace {

using std::string_literals::operator""s;

Peer P(std::string_view ip, uint32_t port, std::string peer_id = "") {
  return Peer{*Endpoint::Make(ip, port), std::move(peer_id)};
}

TEST(CompactPeersTest, DecodesIpv4) {
  std::string bytes = "\x7f\x00\x00\x01\x1a\xe1\x0a\x01\x02\x03\x00\x50"s;
  auto peers = DecodeCompactPeers(bytes, IpFamily::kV4);
  ASSERT_TRUE(peers.ok()) << peers.status();
  ASSERT_EQ(peers->size(), 2u);
  EXPECT_EQ((*peers)[0], P("127.0.0.1", 6881));
  EXPECT_EQ((*peers)[1], P("10.1.2.3", 80));
}

TEST(CompactPeersTest, DecodesIpv6) {
  std::string bytes = "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x01\x1a\xe1"s;
  auto peers = DecodeCompactPeers(bytes, IpFamily::kV6);
  ASSERT_TRUE(peers.ok()) << peers.status();
  ASSERT_EQ(peers->size(), 1u);
  EXPECT_EQ((*peers)[0], P("2001:db8::1", 6881));
}

// A tracker that lists an IPv4 peer in its IPv6 list (as ::ffff:a.b.c.d) names the same peer
// as its IPv4 list: one key, so the coordinator gives it to one worker and bans it once.
TEST(CompactPeersTest, MappedIpv6IsTheIpv4Peer) {
  std::string bytes = std::string(10, '\0') + "\xff\xff\x0a\x01\x02\x03\x1a\xe1"s;
  auto peers = DecodeCompactPeers(bytes, IpFamily::kV6);
  ASSERT_TRUE(peers.ok()) << peers.status();
  ASSERT_EQ(peers->size(), 1u);
  EXPECT_EQ((*peers)[0], P("10.1.2.3", 6881));
  EXPECT_EQ((*peers)[0].endpoint.ToString(), "10.1.2.3:6881");
  // It cannot go back into an IPv6 list.
  EXPECT_FALSE(EncodeCompactPeers(*peers, IpFamily::kV6).ok());
  EXPECT_TRUE(EncodeCompactPeers(*peers, IpFamily::kV4).ok());
}

TEST(CompactPeersTest, EmptyIsNoPeers) {
  auto peers = DecodeCompactPeers("", IpFamily::kV4);
  ASSERT_TRUE(peers.ok());
  EXPECT_TRUE(peers->empty());
}

TEST(CompactPeersTest, RejectsRaggedLength) {
  auto peers = DecodeCompactPeers("\x7f\x00\x00\x01\x1a"s, IpFamily::kV4);
  EXPECT_EQ(peers.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(peers.status().message().find("multiple of 6"), std::string::npos);
  EXPECT_FALSE(DecodeCompactPeers(std::string(6, 'x'), IpFamily::kV6).ok());
}

TEST(CompactPeersTest, LimitAndPortZero) {
  std::string two = "\x01\x02\x03\x04\x00\x00\x01\x02\x03\x04\x00\x01"s;
  auto peers = DecodeCompactPeers(two, IpFamily::kV4);
  ASSERT_TRUE(peers.ok());
  ASSERT_EQ(peers->size(), 1u);  // port 0 dropped
  EXPECT_EQ((*peers)[0].endpoint.port(), 1);
  EXPECT_FALSE(DecodeCompactPeers(two, IpFamily::kV4, 1).ok());
}

TEST(CompactPeersTest, EncodeRoundTrips) {
  std::vector<Peer> v4 = {P("127.0.0.1", 6881), P("192.168.1.200", 65535)};
  auto bytes = EncodeCompactPeers(v4, IpFamily::kV4);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 12u);
  EXPECT_EQ(*DecodeCompactPeers(*bytes, IpFamily::kV4), v4);
  std::vector<Peer> v6 = {P("::1", 1), P("fe80::1:2", 443)};
  bytes = EncodeCompactPeers(v6, IpFamily::kV6);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*DecodeCompactPeers(*bytes, IpFamily::kV6), v6);
  EXPECT_FALSE(EncodeCompactPeers(v6, IpFamily::kV4).ok());
  // A host name never becomes a Peer (bt::Endpoint takes numeric addresses only).
  EXPECT_FALSE(Endpoint::Make("example.com", 1).ok());
}

TEST(ValidateAnnounceParamsTest, ChecksSizes) {
  AnnounceParams p;
  p.info_hash = std::string(20, 'i');
  p.peer_id = std::string(20, 'p');
  EXPECT_TRUE(ValidateAnnounceParams(p).ok());
  p.peer_id = "short";
  EXPECT_EQ(ValidateAnnounceParams(p).code(), absl::StatusCode::kInvalidArgument);
  p.peer_id = std::string(20, 'p');
  p.info_hash = std::string(40, 'a');  // hex is not accepted
  EXPECT_FALSE(ValidateAnnounceParams(p).ok());
  p.info_hash = std::string(20, 'i');
  p.tracker_id = std::string(2000, 't');
  EXPECT_FALSE(ValidateAnnounceParams(p).ok());
}

TEST(ValidateAnnounceParamsTest, IpMustBeAnAddress) {
  AnnounceParams p;
  p.info_hash = std::string(20, 'i');
  p.peer_id = std::string(20, 'p');
  for (const char* ok : {"10.1.2.3", "2001:db8::7", "::ffff:10.0.0.1"}) {
    p.ip = ok;
    EXPECT_TRUE(ValidateAnnounceParams(p).ok()) << ok;
  }
  for (const char* bad : {"tracker.example", "10.1.2", "1.2.3.4:80", " 1.2.3.4"}) {
    p.ip = bad;
    const absl::Status s = ValidateAnnounceParams(p);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(std::string(s.message()).find("ip: "), std::string::npos) << s;
  }
  p.ip = std::string("1.2.3.4\0", 8);
  EXPECT_FALSE(ValidateAnnounceParams(p).ok());
}

TEST(SanitizeTrackerTextTest, KeepsUtf8ReplacesControlAndInvalid) {
  EXPECT_EQ(SanitizeTrackerText("plain text"), "plain text");
  EXPECT_EQ(SanitizeTrackerText("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(SanitizeTrackerText("a\x01"
                                "b\nc\x7f"),
            "a?b c?");
  EXPECT_EQ(SanitizeTrackerText("\xff\xc3(\xed\xa0\x80"), "?" "?(???");  // invalid, surrogate
  EXPECT_EQ(SanitizeTrackerText("\0x"s), "?x");
}

TEST(SanitizeTrackerTextTest, CutsAtSequenceBoundary) {
  EXPECT_EQ(SanitizeTrackerText("abcdef", 4), "abcd...");
  EXPECT_EQ(SanitizeTrackerText("ab\xc3\xa9", 3), "ab...");
  EXPECT_EQ(SanitizeTrackerText(std::string(10000, 'x')).size(), 515u);
}

}  // namespace
}  // namespace swarm::bt::tracker
