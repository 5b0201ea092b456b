// tracker_svc against a real opentracker: two peers announce one torrent through a running
// TrackerServer (over its gRPC stub) and each must see the other, over HTTP and over UDP.
#include <memory>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "process/opentracker.h"
#include "process/ports.h"
#include "proto/tracker.grpc.pb.h"
#include "tracker_svc/tracker_server.h"

namespace {

namespace pb = ::swarm::pb;
using swarm::process::Opentracker;

std::string RandomHash() {
  absl::BitGen gen;
  std::string h(20, '\0');
  for (char& c : h) c = static_cast<char>(absl::Uniform<unsigned>(gen, 0, 256));
  return h;
}

class TrackerSvcOpentrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http_hash_ = RandomHash();
    udp_hash_ = RandomHash();
    auto tracker = Opentracker::Start({.info_hashes = {http_hash_, udp_hash_}});
    ASSERT_TRUE(tracker.ok()) << tracker.status();
    tracker_ = *std::move(tracker);

    auto server = swarm::tracker_svc::TrackerServer::Start({});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = pb::TrackerQuery::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }

  // Announces peer `peer_id` listening on `port` (source address 127.0.0.1) to `urls` as
  // one tier each.
  grpc::Status Announce(const std::string& info_hash, const std::string& peer_id, int port,
                        pb::AnnounceEvent event, const std::vector<std::string>& urls,
                        pb::AnnounceResponse* resp) {
    pb::AnnounceRequest req;
    req.set_info_hash(info_hash);
    req.set_peer_id(peer_id);
    req.set_port(port);
    req.set_left(1 << 20);
    req.set_event(event);
    req.set_timeout_ms(20'000);
    for (const std::string& url : urls) req.add_tiers()->add_urls(url);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    return stub_->Announce(&ctx, req, resp);
  }

  static bool Has(const pb::AnnounceResponse& resp, int port) {
    for (const pb::Peer& p : resp.peers()) {
      if (p.ip() == "127.0.0.1" && p.port() == static_cast<uint32_t>(port)) return true;
    }
    return false;
  }

  // Two peers of one torrent find each other through `url`.
  void TwoPeersSeeEachOther(const std::string& info_hash, const std::string& url) {
    const std::string peer_a = "-SW0001-aaaaaaaaaaaa", peer_b = "-SW0001-bbbbbbbbbbbb";
    constexpr int kPortA = 50001, kPortB = 50002;  // announced, never bound: nothing dials them

    pb::AnnounceResponse a1;
    grpc::Status s = Announce(info_hash, peer_a, kPortA, pb::STARTED, {url}, &a1);
    ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << tracker_->log();
    EXPECT_EQ(a1.tracker_url(), url);
    EXPECT_GT(a1.interval_s(), 0u);
    EXPECT_FALSE(Has(a1, kPortB));

    pb::AnnounceResponse b;
    s = Announce(info_hash, peer_b, kPortB, pb::STARTED, {url}, &b);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(Has(b, kPortA)) << b.DebugString();
    EXPECT_EQ(b.leechers(), 2);
    EXPECT_EQ(b.seeders(), 0);

    pb::AnnounceResponse a2;
    s = Announce(info_hash, peer_a, kPortA, pb::NONE, {url}, &a2);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(Has(a2, kPortB)) << a2.DebugString();

    // Scrape agrees: two leechers, no seeders.
    pb::ScrapeRequest scrape;
    scrape.add_info_hashes(info_hash);
    scrape.add_tiers()->add_urls(url);
    pb::ScrapeResponse scraped;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    s = stub_->Scrape(&ctx, scrape, &scraped);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(scraped.entries_size(), 1);
    EXPECT_EQ(scraped.entries(0).info_hash(), info_hash);
    EXPECT_EQ(scraped.entries(0).leechers(), 2u);
    EXPECT_EQ(scraped.entries(0).seeders(), 0u);

    // B leaves: A no longer sees it.
    pb::AnnounceResponse gone;
    ASSERT_TRUE(Announce(info_hash, peer_b, kPortB, pb::STOPPED, {url}, &gone).ok());
    pb::AnnounceResponse a3;
    ASSERT_TRUE(Announce(info_hash, peer_a, kPortA, pb::NONE, {url}, &a3).ok());
    EXPECT_FALSE(Has(a3, kPortB)) << a3.DebugString();
  }

  std::string http_hash_;
  std::string udp_hash_;
  std::unique_ptr<Opentracker> tracker_;
  std::unique_ptr<swarm::tracker_svc::TrackerServer> server_;
  std::unique_ptr<pb::TrackerQuery::Stub> stub_;
};

TEST_F(TrackerSvcOpentrackerTest, HttpPeersSeeEachOther) {
  TwoPeersSeeEachOther(http_hash_, tracker_->http_announce_url());
}

TEST_F(TrackerSvcOpentrackerTest, UdpPeersSeeEachOther) {
  TwoPeersSeeEachOther(udp_hash_, tracker_->udp_announce_url());
}

TEST_F(TrackerSvcOpentrackerTest, UnlistedTorrentIsRefused) {
  const std::string unlisted = RandomHash();
  // Over HTTP it sends a failure reason; over UDP a header-only reply (no error packet).
  const std::pair<std::string, std::string> cases[] = {
      {tracker_->http_announce_url(),
       "tracker failure: Requested download is not authorized for use with this tracker."},
      {tracker_->udp_announce_url(), "tracker refused the announce"},
  };
  for (const auto& [url, text] : cases) {
    pb::AnnounceResponse resp;
    const absl::Time start = absl::Now();
    grpc::Status s = Announce(unlisted, "-SW0001-cccccccccccc", 50003, pb::STARTED, {url}, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
        << url << ": " << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), text)) << s.error_message();
    EXPECT_LT(absl::Now(), start + absl::Seconds(20) + absl::Seconds(2));
  }
}

TEST_F(TrackerSvcOpentrackerTest, DeadTrackersInEarlierTiersAreSkipped) {
  // A UDP port and an HTTP port where nothing listens, then the real tracker.
  auto dead_udp = swarm::process::PickUnusedPort(SOCK_DGRAM);
  auto dead_tcp = swarm::process::PickUnusedPort(SOCK_STREAM);
  ASSERT_TRUE(dead_udp.ok() && dead_tcp.ok());
  const std::vector<std::string> urls = {
      absl::StrCat("udp://127.0.0.1:", *dead_udp, "/announce"),
      absl::StrCat("http://127.0.0.1:", *dead_tcp, "/announce"),
      tracker_->http_announce_url(),
  };
  pb::AnnounceResponse resp;
  grpc::Status s = Announce(http_hash_, "-SW0001-dddddddddddd", 50004, pb::STARTED, urls, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.tracker_url(), tracker_->http_announce_url());
  ASSERT_EQ(resp.warnings_size(), 2) << resp.DebugString();
  EXPECT_TRUE(absl::StartsWith(resp.warnings(0), urls[0])) << resp.warnings(0);
  EXPECT_TRUE(absl::StartsWith(resp.warnings(1), urls[1])) << resp.warnings(1);
}

}  // namespace
