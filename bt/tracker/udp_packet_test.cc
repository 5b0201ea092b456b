#include "bt/tracker/udp_packet.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace swarm::bt::tracker {
namespace {

using std::string_literals::operator""s;

Peer P(std::string_view ip, uint32_t port) { return Peer{*Endpoint::Make(ip, port), ""}; }

AnnounceParams Params() {
  AnnounceParams p;
  p.info_hash = std::string(20, '\xab');
  p.peer_id = "-SW0001-012345678901";
  p.port = 6881;
  p.uploaded = 0x0102030405060708ull;
  p.downloaded = 7;
  p.left = 1000;
  p.event = AnnounceEvent::kStarted;
  p.key = 0x11223344;
  return p;
}

TEST(UdpPacketTest, ConnectRequestBytes) {
  EXPECT_EQ(EncodeUdpConnectRequest(0xa1b2c3d4),
            "\x00\x00\x04\x17\x27\x10\x19\x80\x00\x00\x00\x00\xa1\xb2\xc3\xd4"s);
}

TEST(UdpPacketTest, ConnectResponse) {
  std::string packet = EncodeUdpConnectResponse(7, 0x1122334455667788ull);
  EXPECT_EQ(packet, "\x00\x00\x00\x00\x00\x00\x00\x07\x11\x22\x33\x44\x55\x66\x77\x88"s);
  auto id = DecodeUdpConnectResponse(packet, 7);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, 0x1122334455667788ull);
}

TEST(UdpPacketTest, ConnectResponseChecks) {
  std::string packet = EncodeUdpConnectResponse(7, 1);
  EXPECT_NE(DecodeUdpConnectResponse(packet, 8).status().message().find("transaction id"),
            std::string::npos);
  EXPECT_FALSE(DecodeUdpConnectResponse(packet.substr(0, 15), 7).ok());
  EXPECT_FALSE(DecodeUdpConnectResponse(packet.substr(0, 4), 7).ok());
  EXPECT_FALSE(DecodeUdpConnectResponse("", 7).ok());
  auto wrong = DecodeUdpConnectResponse(EncodeUdpScrapeResponse(7, {}), 7);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("scrape"), std::string::npos);
}

TEST(UdpPacketTest, AnnounceRequestLayout) {
  auto packet = EncodeUdpAnnounceRequest(0x0102030405060708ull, 9, Params());
  ASSERT_TRUE(packet.ok()) << packet.status();
  ASSERT_EQ(packet->size(), kUdpAnnounceRequestSize);
  EXPECT_EQ(packet->substr(0, 16),
            "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x01\x00\x00\x00\x09"s);
  EXPECT_EQ(packet->substr(16, 20), std::string(20, '\xab'));
  EXPECT_EQ(packet->substr(80, 4), "\x00\x00\x00\x02"s);  // started = 2 in BEP 15
  EXPECT_EQ(packet->substr(92, 4), "\xff\xff\xff\xff"s);  // numwant -1
  EXPECT_EQ(packet->substr(96, 2), "\x1a\xe1"s);

  auto req = DecodeUdpRequest(*packet);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->action, UdpAction::kAnnounce);
  EXPECT_EQ(req->connection_id, 0x0102030405060708ull);
  EXPECT_EQ(req->transaction_id, 9u);
  AnnounceParams want = Params();
  EXPECT_EQ(req->announce.info_hash, want.info_hash);
  EXPECT_EQ(req->announce.peer_id, want.peer_id);
  EXPECT_EQ(req->announce.port, want.port);
  EXPECT_EQ(req->announce.uploaded, want.uploaded);
  EXPECT_EQ(req->announce.downloaded, want.downloaded);
  EXPECT_EQ(req->announce.left, want.left);
  EXPECT_EQ(req->announce.event, AnnounceEvent::kStarted);
  EXPECT_EQ(req->announce.key, want.key);
  EXPECT_EQ(req->announce.numwant, 0u);
}

TEST(UdpPacketTest, AnnounceRequestIpField) {
  AnnounceParams p = Params();
  auto packet = EncodeUdpAnnounceRequest(1, 2, p);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->substr(84, 4), "\0\0\0\0"s);  // no ip: the source address
  EXPECT_EQ(DecodeUdpRequest(*packet)->announce.ip, "");

  p.ip = "192.168.7.9";
  packet = EncodeUdpAnnounceRequest(1, 2, p);
  ASSERT_TRUE(packet.ok());
  ASSERT_EQ(packet->size(), kUdpAnnounceRequestSize);
  EXPECT_EQ(packet->substr(84, 4), "\xc0\xa8\x07\x09"s);
  EXPECT_EQ(packet->substr(88, 4), "\x11\x22\x33\x44"s);  // key still in its place
  auto req = DecodeUdpRequest(*packet);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->announce.ip, "192.168.7.9");
  EXPECT_EQ(req->announce.key, 0x11223344u);

  // BEP 15 has no room for IPv6: the field stays 0 and the announce still goes out.
  p.ip = "2001:db8::1";
  packet = EncodeUdpAnnounceRequest(1, 2, p);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->substr(84, 4), "\0\0\0\0"s);

  // An IPv4-mapped IPv6 address is an IPv4 address (bt::IpAddress): it fits the field.
  p.ip = "::ffff:192.168.7.9";
  packet = EncodeUdpAnnounceRequest(1, 2, p);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->substr(84, 4), "\xc0\xa8\x07\x09"s);

  p.ip = "not-an-ip";
  EXPECT_EQ(EncodeUdpAnnounceRequest(1, 2, p).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(UdpPacketTest, AnnounceRequestEventsRoundTrip) {
  for (AnnounceEvent e :
       {AnnounceEvent::kNone, AnnounceEvent::kCompleted, AnnounceEvent::kStopped}) {
    AnnounceParams p = Params();
    p.event = e;
    p.numwant = 30;
    auto req = DecodeUdpRequest(*EncodeUdpAnnounceRequest(1, 2, p));
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(req->announce.event, e);
    EXPECT_EQ(req->announce.numwant, 30u);
  }
  AnnounceParams bad = Params();
  bad.peer_id = "x";
  EXPECT_FALSE(EncodeUdpAnnounceRequest(1, 2, bad).ok());
}

TEST(UdpPacketTest, AnnounceResponseIpv4) {
  AnnounceReply reply;
  reply.interval_s = 1800;
  reply.seeders = 3;
  reply.leechers = 4;
  reply.peers = {P("127.0.0.1", 6881), P("10.0.0.2", 51413)};
  auto packet = EncodeUdpAnnounceResponse(5, reply, IpFamily::kV4);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(packet->size(), 20u + 12u);
  auto got = DecodeUdpAnnounceResponse(*packet, 5, IpFamily::kV4);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->interval_s, 1800u);
  EXPECT_EQ(got->seeders, 3);
  EXPECT_EQ(got->leechers, 4);
  EXPECT_EQ(got->peers, reply.peers);
}

TEST(UdpPacketTest, AnnounceResponseIpv6) {
  AnnounceReply reply;
  reply.peers = {P("2001:db8::7", 1234)};
  auto packet = EncodeUdpAnnounceResponse(5, reply, IpFamily::kV6);
  ASSERT_TRUE(packet.ok());
  auto got = DecodeUdpAnnounceResponse(*packet, 5, IpFamily::kV6);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->peers, reply.peers);
  // The same bytes read as IPv4 peers: 18 is not a multiple of 6... it is, so 3 odd peers;
  // a 20+7-byte packet is not.
  EXPECT_FALSE(DecodeUdpAnnounceResponse(packet->substr(0, 27), 5, IpFamily::kV4).ok());
}

TEST(UdpPacketTest, AnnounceResponseTruncated) {
  AnnounceReply reply;
  std::string packet = *EncodeUdpAnnounceResponse(5, reply, IpFamily::kV4);
  EXPECT_TRUE(DecodeUdpAnnounceResponse(packet, 5, IpFamily::kV4).ok());
  for (size_t n = 0; n < packet.size(); ++n) {
    auto got = DecodeUdpAnnounceResponse(packet.substr(0, n), 5, IpFamily::kV4);
    EXPECT_FALSE(got.ok()) << n;
    if (n != 8) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << n;
    }
  }
}

TEST(UdpPacketTest, HeaderOnlyAnnounceReplyIsARefusal) {
  // What Debian's opentracker sends for an info-hash that is not on its whitelist.
  std::string packet = "\x00\x00\x00\x01\x00\x00\x00\x08"s;
  auto got = DecodeUdpAnnounceResponse(packet, 8, IpFamily::kV4);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(got.status().message().find("refused"), std::string::npos);
  // For another transaction it is just not ours.
  EXPECT_EQ(DecodeUdpAnnounceResponse(packet, 9, IpFamily::kV4).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(UdpPacketTest, ErrorAction) {
  std::string packet = EncodeUdpErrorResponse(5, "info_hash not authorized\n");
  auto header = PeekUdpResponseHeader(packet);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->action, 3u);
  EXPECT_EQ(header->transaction_id, 5u);
  auto got = DecodeUdpAnnounceResponse(packet, 5, IpFamily::kV4);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(got.status().message(), "tracker error: info_hash not authorized ");
  EXPECT_EQ(DecodeUdpConnectResponse(packet, 5).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // An error for another transaction is not ours.
  EXPECT_EQ(DecodeUdpConnectResponse(packet, 6).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Empty text, and hostile bytes in the text.
  EXPECT_EQ(DecodeUdpConnectResponse(EncodeUdpErrorResponse(5, ""), 5).status().message(),
            "tracker error: ");
  EXPECT_EQ(DecodeUdpConnectResponse(EncodeUdpErrorResponse(5, "\x01\xff"), 5).status().message(),
            "tracker error: ??");
}

TEST(UdpPacketTest, Scrape) {
  std::vector<std::string> hashes = {std::string(20, 'a'), std::string(20, 'b')};
  auto req_packet = EncodeUdpScrapeRequest(42, 3, hashes);
  ASSERT_TRUE(req_packet.ok());
  EXPECT_EQ(req_packet->size(), 16u + 40u);
  auto req = DecodeUdpRequest(*req_packet);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->action, UdpAction::kScrape);
  EXPECT_EQ(req->connection_id, 42u);
  EXPECT_EQ(req->info_hashes, hashes);

  std::vector<ScrapeCounts> counts = {{hashes[0], 1, 2, 3}, {hashes[1], 4, 5, 6}};
  std::string resp = EncodeUdpScrapeResponse(3, counts);
  auto got = DecodeUdpScrapeResponse(resp, 3, hashes);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, counts);
  // Fewer entries than asked is allowed; a partial entry or too many is not.
  EXPECT_EQ(DecodeUdpScrapeResponse(resp.substr(0, 20), 3, hashes)->size(), 1u);
  EXPECT_FALSE(DecodeUdpScrapeResponse(resp.substr(0, 25), 3, hashes).ok());
  EXPECT_FALSE(DecodeUdpScrapeResponse(resp, 3, {hashes[0]}).ok());

  EXPECT_FALSE(EncodeUdpScrapeRequest(1, 1, {}).ok());
  EXPECT_FALSE(EncodeUdpScrapeRequest(1, 1, {"short"}).ok());
  EXPECT_FALSE(EncodeUdpScrapeRequest(1, 1, std::vector<std::string>(75, hashes[0])).ok());
}

TEST(UdpPacketTest, RequestDecoderRejectsGarbage) {
  EXPECT_FALSE(DecodeUdpRequest("").ok());
  EXPECT_FALSE(DecodeUdpRequest(std::string(15, '\0')).ok());
  EXPECT_FALSE(DecodeUdpRequest(std::string(16, '\0')).ok());  // connect without magic
  auto connect = DecodeUdpRequest(EncodeUdpConnectRequest(77));
  ASSERT_TRUE(connect.ok());
  EXPECT_EQ(connect->action, UdpAction::kConnect);
  EXPECT_EQ(connect->transaction_id, 77u);
  std::string announce = *EncodeUdpAnnounceRequest(1, 2, Params());
  EXPECT_FALSE(DecodeUdpRequest(announce.substr(0, 97)).ok());
  std::string scrape = *EncodeUdpScrapeRequest(1, 2, {std::string(20, 'a')});
  EXPECT_FALSE(DecodeUdpRequest(scrape.substr(0, 35)).ok());
  EXPECT_FALSE(DecodeUdpRequest(scrape.substr(0, 16)).ok());
  std::string bad_action = scrape;
  bad_action[11] = 9;
  EXPECT_FALSE(DecodeUdpRequest(bad_action).ok());
}

// Hostile input: random packets of every small size never crash a decoder.
TEST(UdpPacketTest, RandomBytesNeverCrash) {
  std::mt19937 rng(1234);
  std::vector<std::string> hashes = {std::string(20, 'a')};
  for (int i = 0; i < 20000; ++i) {
    std::string packet(rng() % 64, '\0');
    for (char& c : packet) c = static_cast<char>(rng());
    if (rng() % 2 && packet.size() >= 8) {  // make the header plausible half the time
      packet[0] = packet[1] = packet[2] = 0;
      packet[3] = static_cast<char>(rng() % 4);
      packet[4] = packet[5] = packet[6] = packet[7] = 0;
    }
    (void)DecodeUdpConnectResponse(packet, 0);
    (void)DecodeUdpAnnounceResponse(packet, 0, IpFamily::kV4);
    (void)DecodeUdpAnnounceResponse(packet, 0, IpFamily::kV6);
    (void)DecodeUdpScrapeResponse(packet, 0, hashes);
    (void)DecodeUdpRequest(packet);
  }
}

}  // namespace
}  // namespace swarm::bt::tracker
