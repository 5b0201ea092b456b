#include "tracker_svc/tracker_server.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bt/bencode.h"
#include "bt/tracker/udp_packet.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/tracker.grpc.pb.h"
#include "tests/testing/health_check.h"
#include "tracker_svc/testing/fake_http_tracker.h"
#include "tracker_svc/testing/fake_udp_tracker.h"

namespace swarm::tracker_svc {
namespace {

using testing::FakeHttpTracker;
using testing::FakeUdpTracker;

// "Returned within its deadline" allows this much for a loaded, shared machine.
constexpr absl::Duration kSlack = absl::Seconds(2);

const std::string kInfoHash = std::string("\x00\x01\x02 %&+=?\xff", 10) + std::string(10, 'h');
const std::string kPeerId = "-SW0001-abcdefghijkl";

class TrackerServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TrackerServer::Options options;
    options.listen_address = "127.0.0.1:0";
    options.shutdown_grace = absl::Milliseconds(100);
    // Short enough for a silent tracker to be retried within a test, long enough that a
    // loaded machine's late answer is not taken for a lost one (and retransmitted).
    options.announcer.udp.base_timeout = absl::Seconds(1);
    options.announcer.http.max_body_bytes = 64 * 1024;
    auto server = TrackerServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::TrackerQuery::NewStub(channel_);
  }

  static pb::AnnounceRequest Request(const std::vector<std::string>& urls,
                                     uint32_t timeout_ms = 10'000) {
    pb::AnnounceRequest req;
    req.set_info_hash(kInfoHash);
    req.set_peer_id(kPeerId);
    req.set_port(6881);
    req.set_left(1000);
    req.set_event(pb::STARTED);
    req.set_timeout_ms(timeout_ms);
    for (const std::string& url : urls) req.add_tiers()->add_urls(url);
    return req;
  }

  grpc::Status Announce(const pb::AnnounceRequest& req, pb::AnnounceResponse* resp,
                        absl::Duration rpc_timeout = absl::Seconds(60)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + rpc_timeout));
    return stub_->Announce(&ctx, req, resp);
  }

  static std::unique_ptr<FakeHttpTracker> Http(FakeHttpTracker::Response response) {
    auto t =
        FakeHttpTracker::Start([response](const FakeHttpTracker::Request&) { return response; });
    EXPECT_TRUE(t.ok()) << t.status();
    return *std::move(t);
  }

  static std::unique_ptr<FakeUdpTracker> Udp(FakeUdpTracker::Handler handler) {
    auto t = FakeUdpTracker::Start(std::move(handler));
    EXPECT_TRUE(t.ok()) << t.status();
    return *std::move(t);
  }

  // Runs one announce expected to fail with `code` and a message containing `text`, ending
  // no later than its timeout_ms (plus slack).
  void ExpectError(const std::string& url, grpc::StatusCode code, const std::string& text,
                   uint32_t timeout_ms = 10'000) {
    pb::AnnounceResponse resp;
    const absl::Time start = absl::Now();
    grpc::Status status = Announce(Request({url}, timeout_ms), &resp);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), text)) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), url)) << status.error_message();
    EXPECT_LT(absl::Now(), start + absl::Milliseconds(timeout_ms) + kSlack);
  }

  std::unique_ptr<TrackerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::TrackerQuery::Stub> stub_;
};

TEST_F(TrackerServerTest, HttpAnnounceWithDictionaryAndIpv6Peers) {
  std::string v6 =
      std::string("\x20\x01\x0d\xb8", 4) + std::string(11, '\0') + std::string("\x02\x1a\xe2", 3);
  bt::BValue::Dict peer;
  peer["ip"] = "10.0.0.7";
  peer["port"] = 51413;
  peer["peer id"] = std::string(20, 'Q');
  bt::BValue::Dict body;
  body["interval"] = 1200;
  body["min interval"] = 600;
  body["complete"] = 3;
  body["incomplete"] = 4;
  body["warning message"] = "be nice";
  body["tracker id"] = "tid-1";
  body["peers"] = bt::BValue::List{peer};
  body["peers6"] = v6;
  auto tracker = Http({.body = bt::Encode(body)});

  pb::AnnounceResponse resp;
  grpc::Status status = Announce(Request({tracker->url()}), &resp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(resp.peers_size(), 2);
  EXPECT_EQ(resp.peers(0).ip(), "10.0.0.7");
  EXPECT_EQ(resp.peers(0).port(), 51413u);
  EXPECT_EQ(resp.peers(0).peer_id(), std::string(20, 'Q'));
  EXPECT_EQ(resp.peers(1).ip(), "2001:db8::2");
  EXPECT_EQ(resp.peers(1).port(), 6882u);
  EXPECT_EQ(resp.peers(1).peer_id(), "");
  EXPECT_EQ(resp.interval_s(), 1200u);
  EXPECT_EQ(resp.min_interval_s(), 600u);
  EXPECT_EQ(resp.seeders(), 3);
  EXPECT_EQ(resp.leechers(), 4);
  EXPECT_EQ(resp.tracker_url(), tracker->url());
  EXPECT_EQ(resp.tracker_id(), "tid-1");
  ASSERT_EQ(resp.warnings_size(), 1);
  EXPECT_EQ(resp.warnings(0), "be nice");

  // What went over the wire: binary bytes percent-encoded, compact=1, a derived key.
  ASSERT_EQ(tracker->targets().size(), 1u);
  const std::string target = tracker->targets()[0];
  EXPECT_TRUE(
      absl::StartsWith(target,
                       "/announce?info_hash=%00%01%02%20%25%26%2B%3D%3F%FFhhhhhhhhhh"
                       "&peer_id=-SW0001-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=1000"
                       "&compact=1&key="))
      << target;
  EXPECT_TRUE(absl::StrContains(target, "&event=started")) << target;
  EXPECT_FALSE(absl::StrContains(target, "&key=00000000")) << target;
}

// AnnounceRequest.ip: the `ip` parameter over HTTP, the IP address field over UDP when IPv4.
TEST_F(TrackerServerTest, AnnouncedAddressReachesHttpAndUdpTrackers) {
  auto http = Http({.body = "d8:intervali60e5:peers0:e"});
  pb::AnnounceRequest req = Request({http->url()});
  req.set_ip("10.20.30.40");
  pb::AnnounceResponse resp;
  grpc::Status status = Announce(req, &resp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  req.set_ip("");
  ASSERT_TRUE(Announce(req, &resp).ok());
  ASSERT_EQ(http->targets().size(), 2u);
  EXPECT_TRUE(absl::StrContains(http->targets()[0], "&ip=10.20.30.40")) << http->targets()[0];
  EXPECT_FALSE(absl::StrContains(http->targets()[1], "&ip=")) << http->targets()[1];

  bt::tracker::AnnounceReply reply;
  reply.interval_s = 60;
  auto udp = Udp(FakeUdpTracker::Working(reply));
  for (const char* ip : {"10.20.30.40", "2001:db8::5", ""}) {
    req = Request({udp->url()});
    req.set_ip(ip);
    status = Announce(req, &resp);
    ASSERT_TRUE(status.ok()) << ip << ": " << status.error_message();
  }
  std::vector<std::string> seen;
  for (const bt::tracker::UdpRequest& r : udp->requests()) {
    if (r.action == bt::tracker::UdpAction::kAnnounce) seen.push_back(r.announce.ip);
  }
  // IPv6 does not fit the field: the tracker falls back to the packet's source address.
  EXPECT_EQ(seen, (std::vector<std::string>{"10.20.30.40", "", ""}));
}

TEST_F(TrackerServerTest, UdpAnnounceAndScrape) {
  bt::tracker::AnnounceReply reply;
  reply.interval_s = 300;
  reply.seeders = 1;
  reply.leechers = 1;
  reply.peers = {{*bt::Endpoint::Make("127.0.0.2", 7000), ""}};
  auto tracker = Udp(FakeUdpTracker::Working(reply, 99, {"", 1, 2, 1}));
  pb::AnnounceResponse resp;
  grpc::Status status = Announce(Request({tracker->url()}), &resp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(resp.peers_size(), 1);
  EXPECT_EQ(resp.peers(0).ip(), "127.0.0.2");
  EXPECT_EQ(resp.peers(0).port(), 7000u);
  EXPECT_EQ(resp.interval_s(), 300u);
  EXPECT_EQ(resp.tracker_url(), tracker->url());

  pb::ScrapeRequest scrape;
  scrape.add_info_hashes(kInfoHash);
  scrape.add_tiers()->add_urls(tracker->url());
  pb::ScrapeResponse scraped;
  grpc::ClientContext ctx;
  status = stub_->Scrape(&ctx, scrape, &scraped);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(scraped.entries_size(), 1);
  EXPECT_EQ(scraped.entries(0).info_hash(), kInfoHash);
  EXPECT_EQ(scraped.entries(0).seeders(), 1u);
  EXPECT_EQ(scraped.entries(0).completed(), 2u);
  EXPECT_EQ(scraped.entries(0).leechers(), 1u);
  // One connect served both calls: the connection id was reused.
  EXPECT_EQ(tracker->count(bt::tracker::UdpAction::kConnect), 1);
}

TEST_F(TrackerServerTest, FailureReasonIsFailedPreconditionWithTheTrackersText) {
  auto tracker = Http({.body = "d14:failure reason25:torrent is not registerede"});
  ExpectError(tracker->url(), grpc::StatusCode::FAILED_PRECONDITION,
              "tracker failure: torrent is not registered");
}

TEST_F(TrackerServerTest, FailureReasonOnAnErrorStatusStillCarriesTheText) {
  auto tracker = Http({.status = 400, .body = "d14:failure reason7:bad keye"});
  ExpectError(tracker->url(), grpc::StatusCode::FAILED_PRECONDITION, "tracker failure: bad key");
}

TEST_F(TrackerServerTest, GarbageBodyIsUnavailable) {
  auto tracker = Http({.body = "<html><body>Tracker offline</body></html>"});
  ExpectError(tracker->url(), grpc::StatusCode::UNAVAILABLE, "not valid bencode");
}

TEST_F(TrackerServerTest, NotFoundIsUnavailable) {
  auto tracker = Http({.status = 404, .body = "Not Found"});
  ExpectError(tracker->url(), grpc::StatusCode::UNAVAILABLE, "HTTP status 404");
}

TEST_F(TrackerServerTest, HttpTimeoutEndsByTheDeadline) {
  auto tracker = Http({.never_answer = true});
  ExpectError(tracker->url(), grpc::StatusCode::DEADLINE_EXCEEDED, "timed out", 1000);
}

TEST_F(TrackerServerTest, OversizeBodyIsUnavailable) {
  auto tracker =
      Http({.body = "d5:peers" + std::to_string(600'000) + ":" + std::string(600'000, 'x') + "e"});
  ExpectError(tracker->url(), grpc::StatusCode::UNAVAILABLE, "larger than 65536 bytes");
}

TEST_F(TrackerServerTest, SilentUdpTrackerEndsByTheDeadline) {
  auto tracker = Udp([](const bt::tracker::UdpRequest&) { return std::vector<std::string>{}; });
  ExpectError(tracker->url(), grpc::StatusCode::DEADLINE_EXCEEDED, "no answer from UDP tracker",
              2500);
  EXPECT_GE(tracker->count(bt::tracker::UdpAction::kConnect), 2);  // sent at 0 s and 1 s
}

TEST_F(TrackerServerTest, UdpErrorActionIsFailedPrecondition) {
  auto tracker = Udp([](const bt::tracker::UdpRequest& req) {
    return std::vector<std::string>{
        bt::tracker::EncodeUdpErrorResponse(req.transaction_id, "unregistered torrent")};
  });
  ExpectError(tracker->url(), grpc::StatusCode::FAILED_PRECONDITION,
              "tracker error: unregistered torrent");
}

TEST_F(TrackerServerTest, CallersGrpcDeadlineBoundsTheCall) {
  auto tracker = Http({.never_answer = true});
  pb::AnnounceResponse resp;
  const absl::Time start = absl::Now();
  grpc::Status status = Announce(Request({tracker->url()}, 60'000), &resp, absl::Seconds(1));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now(), start + absl::Seconds(1) + kSlack);
}

TEST_F(TrackerServerTest, FallsBackAcrossTiers) {
  auto dead = Http({.status = 503});
  auto good = Http({.body = "d8:intervali60e5:peers0:e"});
  pb::AnnounceResponse resp;
  grpc::Status status = Announce(Request({dead->url(), good->url()}), &resp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(resp.tracker_url(), good->url());
  ASSERT_EQ(resp.warnings_size(), 1);
  EXPECT_TRUE(absl::StrContains(resp.warnings(0), "HTTP status 503")) << resp.warnings(0);
}

TEST_F(TrackerServerTest, TrackerIdIsSentBack) {
  auto tracker = Http({.body = "d8:intervali60e5:peers0:e"});
  pb::AnnounceRequest req = Request({tracker->url()});
  (*req.mutable_tracker_ids())[tracker->url()] = "abc";
  pb::AnnounceResponse resp;
  ASSERT_TRUE(Announce(req, &resp).ok());
  ASSERT_EQ(tracker->targets().size(), 1u);
  EXPECT_TRUE(absl::StrContains(tracker->targets()[0], "&trackerid=abc"));
}

TEST_F(TrackerServerTest, InvalidRequests) {
  auto tracker = Http({.body = "d8:intervali60e5:peers0:e"});
  std::vector<pb::AnnounceRequest> bad;
  bad.push_back(Request({tracker->url()}));
  bad.back().set_info_hash("0123456789abcdef0123456789abcdef01234567");  // hex, not raw
  bad.push_back(Request({tracker->url()}));
  bad.back().set_peer_id("short");
  bad.push_back(Request({}));
  bad.push_back(Request({tracker->url()}));
  bad.back().set_port(70000);
  bad.push_back(Request({tracker->url()}));
  bad.back().set_event(static_cast<pb::AnnounceEvent>(9));
  bad.push_back(Request({tracker->url()}, 3'600'000));
  bad.push_back(Request({"gopher://x/announce"}));
  bad.push_back(Request({tracker->url()}));
  bad.back().set_ip("peer.example");  // an address, not a name
  for (const pb::AnnounceRequest& req : bad) {
    pb::AnnounceResponse resp;
    grpc::Status status = Announce(req, &resp);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << status.error_message() << "\n"
        << req.DebugString();
  }
  EXPECT_TRUE(tracker->targets().empty());

  pb::ScrapeRequest scrape;
  scrape.add_tiers()->add_urls(tracker->url());
  pb::ScrapeResponse scraped;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->Scrape(&ctx, scrape, &scraped).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TrackerServerTest, ConcurrentAnnouncesEachWithItsOwnDeadline) {
  auto slow = Http({.body = "d8:intervali60e5:peers0:e", .delay = absl::Milliseconds(300)});
  auto hanging = Http({.never_answer = true});
  constexpr int kCalls = 12;
  std::vector<grpc::Status> results(kCalls);
  std::vector<absl::Time> ended(kCalls);
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      // Every third call goes to the hanging tracker with a 1 s budget.
      bool hang = i % 3 == 0;
      pb::AnnounceRequest req =
          Request({hang ? hanging->url() : slow->url()}, hang ? 1000 : 20'000);
      pb::AnnounceResponse resp;
      results[i] = Announce(req, &resp);
      ended[i] = absl::Now();
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kCalls; ++i) {
    if (i % 3 == 0) {
      EXPECT_EQ(results[i].error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << i;
      EXPECT_LT(ended[i], start + absl::Seconds(1) + kSlack) << i;
    } else {
      EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].error_message();
    }
  }
  EXPECT_EQ(slow->targets().size(), static_cast<size_t>(kCalls - kCalls / 3));
}

TEST_F(TrackerServerTest, HealthCheckServes) {
  auto overall = swarm::testing::CheckHealth(channel_, "", absl::Seconds(10));
  ASSERT_TRUE(overall.ok()) << overall.status();
  EXPECT_EQ(*overall, swarm::testing::HealthStatus::kServing);
  auto service = swarm::testing::CheckHealth(channel_, "swarm.pb.TrackerQuery", absl::Seconds(10));
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ(*service, swarm::testing::HealthStatus::kServing);
}

TEST_F(TrackerServerTest, ShutdownEndsCallsInFlight) {
  absl::Notification request_seen;
  auto hanging = FakeHttpTracker::Start([&](const FakeHttpTracker::Request&) {
    request_seen.Notify();
    return FakeHttpTracker::Response{.never_answer = true};
  });
  ASSERT_TRUE(hanging.ok());
  grpc::Status status;
  std::thread call([&] {
    pb::AnnounceResponse resp;
    status = Announce(Request({(*hanging)->url()}, 120'000), &resp);
  });
  request_seen.WaitForNotification();
  const absl::Time start = absl::Now();
  server_->Shutdown();
  call.join();
  EXPECT_FALSE(status.ok());
  EXPECT_LT(absl::Now(), start + kSlack + absl::Seconds(1));
  server_->Shutdown();  // idempotent
}

TEST(TrackerServerStartTest, BadListenAddressFails) {
  TrackerServer::Options options;
  options.listen_address = "definitely not an address";
  auto server = TrackerServer::Start(options);
  EXPECT_FALSE(server.ok());
}

}  // namespace
}  // namespace swarm::tracker_svc
