#include "tracker_svc/udp_client.h"

#include <atomic>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bt/tracker/udp_packet.h"
#include "gtest/gtest.h"
#include "tracker_svc/testing/fake_udp_tracker.h"

namespace swarm::tracker_svc {
namespace {

using bt::tracker::AnnounceParams;
using bt::tracker::AnnounceReply;
using bt::tracker::UdpAction;
using bt::tracker::UdpRequest;
using testing::FakeUdpTracker;

constexpr absl::Duration kSlack = absl::Seconds(2);

AnnounceParams Params() {
  AnnounceParams p;
  p.info_hash = std::string(20, 'i');
  p.peer_id = std::string(20, 'p');
  p.port = 6881;
  p.left = 10;
  p.event = bt::tracker::AnnounceEvent::kStarted;
  return p;
}

AnnounceReply Reply() {
  AnnounceReply r;
  r.interval_s = 900;
  r.seeders = 1;
  r.leechers = 2;
  r.peers = {{*bt::Endpoint::Make("127.0.0.1", 7000), ""},
             {*bt::Endpoint::Make("10.0.0.9", 7001), ""}};
  return r;
}

std::unique_ptr<FakeUdpTracker> Start(FakeUdpTracker::Handler handler) {
  auto tracker = FakeUdpTracker::Start(std::move(handler));
  EXPECT_TRUE(tracker.ok()) << tracker.status();
  return *std::move(tracker);
}

bt::tracker::TrackerUrl Url(const FakeUdpTracker& t) {
  return *bt::tracker::ParseTrackerUrl(t.url());
}

// A clock the test moves by hand.
struct FakeClock {
  absl::Mutex mu;
  absl::Time now ABSL_GUARDED_BY(mu) = absl::FromUnixSeconds(1'000'000);
  std::function<absl::Time()> Fn() {
    return [this] {
      absl::MutexLock lock(&mu);
      return now;
    };
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu);
    now += d;
  }
};

TEST(UdpClientTest, Announce) {
  auto tracker = Start(FakeUdpTracker::Working(Reply()));
  UdpTrackerClient client({});
  auto reply = client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->interval_s, 900u);
  EXPECT_EQ(reply->seeders, 1);
  EXPECT_EQ(reply->leechers, 2);
  EXPECT_EQ(reply->peers, Reply().peers);
  std::vector<UdpRequest> requests = tracker->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].action, UdpAction::kConnect);
  EXPECT_EQ(requests[1].action, UdpAction::kAnnounce);
  EXPECT_EQ(requests[1].announce.info_hash, Params().info_hash);
  EXPECT_EQ(requests[1].announce.port, 6881);
  EXPECT_EQ(requests[1].announce.event, bt::tracker::AnnounceEvent::kStarted);
}

TEST(UdpClientTest, ReusesConnectionIdForAMinute) {
  auto tracker = Start(FakeUdpTracker::Working(Reply()));
  FakeClock clock;
  UdpTrackerClient::Options options;
  options.clock = clock.Fn();
  UdpTrackerClient client(options);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(10)).ok());
    clock.Advance(absl::Seconds(20));
  }
  EXPECT_EQ(tracker->count(UdpAction::kConnect), 1);
  EXPECT_EQ(tracker->count(UdpAction::kAnnounce), 3);
  clock.Advance(absl::Seconds(1));  // 61 s after the connect: the id has expired
  ASSERT_TRUE(client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(10)).ok());
  EXPECT_EQ(tracker->count(UdpAction::kConnect), 2);
}

TEST(UdpClientTest, Scrape) {
  bt::tracker::ScrapeCounts counts{"", 5, 6, 7};
  auto tracker = Start(FakeUdpTracker::Working(Reply(), 77, counts));
  UdpTrackerClient client({});
  std::vector<std::string> hashes = {std::string(20, 'a'), std::string(20, 'b')};
  auto got = client.Scrape(Url(*tracker), hashes, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[1], (bt::tracker::ScrapeCounts{hashes[1], 5, 6, 7}));
  EXPECT_FALSE(client.Scrape(Url(*tracker), {}, absl::Now() + absl::Seconds(10)).ok());
}

TEST(UdpClientTest, RetransmitsOnTheBackoffSchedule) {
  // Drops the first two connects: answers arrive only after two retransmissions.
  std::atomic<int> connects{0};
  FakeUdpTracker::Handler working = FakeUdpTracker::Working(Reply());
  auto tracker = Start([&](const UdpRequest& req) -> std::vector<std::string> {
    if (req.action == UdpAction::kConnect && connects++ < 2) return {};
    return working(req);
  });
  UdpTrackerClient::Options options;
  options.base_timeout = absl::Milliseconds(50);  // 50, 100, 200 ms ...
  UdpTrackerClient client(options);
  auto reply = client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(reply.ok()) << reply.status();
  std::vector<UdpRequest> requests = tracker->requests();
  // Two dropped connects, the third answered, the announce; one more send if a loaded machine
  // delays an answer past its (short) timeout.
  ASSERT_GE(requests.size(), 4u);
  ASSERT_LE(requests.size(), 5u);
  // The same connect request (same transaction id) was sent again.
  EXPECT_EQ(requests[0].transaction_id, requests[2].transaction_id);
}

TEST(UdpClientTest, IgnoresForeignTransactionIdsAndShortDatagrams) {
  FakeUdpTracker::Handler working = FakeUdpTracker::Working(Reply());
  auto tracker = Start([&](const UdpRequest& req) {
    std::vector<std::string> out = {
        "\x00\x00",  // too short
        bt::tracker::EncodeUdpErrorResponse(req.transaction_id + 1, "not yours"),
        bt::tracker::EncodeUdpConnectResponse(req.transaction_id ^ 0xffff, 1),
    };
    for (std::string& p : working(req)) out.push_back(p);
    return out;
  });
  UdpTrackerClient client({});
  auto reply = client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->peers.size(), 2u);
}

TEST(UdpClientTest, ErrorActionIsAClearError) {
  FakeUdpTracker::Handler working = FakeUdpTracker::Working(Reply());
  auto tracker = Start([&](const UdpRequest& req) -> std::vector<std::string> {
    if (req.action == UdpAction::kAnnounce) {
      return {bt::tracker::EncodeUdpErrorResponse(req.transaction_id, "torrent not registered")};
    }
    return working(req);
  });
  UdpTrackerClient client({});
  auto reply = client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(10));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(reply.status().message(), "tracker error: torrent not registered");
  // The connection id is dropped after an error: the next call connects again.
  (void)client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(10));
  EXPECT_EQ(tracker->count(UdpAction::kConnect), 2);
}

TEST(UdpClientTest, MalformedAnswerIsUnavailable) {
  FakeUdpTracker::Handler working = FakeUdpTracker::Working(Reply());
  auto tracker = Start([&](const UdpRequest& req) -> std::vector<std::string> {
    if (req.action == UdpAction::kAnnounce) {
      std::string p = *bt::tracker::EncodeUdpAnnounceResponse(req.transaction_id, Reply(),
                                                              bt::tracker::IpFamily::kV4);
      return {p.substr(0, p.size() - 1)};  // a ragged peer list
    }
    return working(req);
  });
  UdpTrackerClient client({});
  auto reply = client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(10));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(reply.status().message().find("multiple of 6"), std::string::npos) << reply.status();
}

TEST(UdpClientTest, SilentTrackerEndsByTheDeadline) {
  auto tracker = Start([](const UdpRequest&) { return std::vector<std::string>{}; });
  UdpTrackerClient::Options options;
  options.base_timeout = absl::Milliseconds(100);
  UdpTrackerClient client(options);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(800);
  auto reply = client.Announce(Url(*tracker), Params(), deadline);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kDeadlineExceeded) << reply.status();
  EXPECT_NE(reply.status().message().find("no answer from UDP tracker"), std::string::npos);
  EXPECT_LT(absl::Now(), deadline + kSlack);
  // Sends at 0, 100, 300 and 700 ms: it retransmits (a loaded machine may lose the last
  // one or two to the deadline), and never floods.
  EXPECT_GE(tracker->count(UdpAction::kConnect), 2);
  EXPECT_LE(tracker->count(UdpAction::kConnect), 5);
}

TEST(UdpClientTest, SilentTrackerWithTheRealScheduleStillEndsByTheDeadline) {
  auto tracker = Start([](const UdpRequest&) { return std::vector<std::string>{}; });
  UdpTrackerClient client({});  // 15 s first timeout, longer than the deadline
  const absl::Time deadline = absl::Now() + absl::Milliseconds(500);
  auto reply = client.Announce(Url(*tracker), Params(), deadline);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now(), deadline + kSlack);
  EXPECT_EQ(tracker->count(UdpAction::kConnect), 1);
}

TEST(UdpClientTest, StaleCachedIdIsReplaced) {
  // The tracker "restarts": it stops accepting the id it handed out first.
  std::atomic<uint64_t> current_id{1};
  auto tracker = Start([&](const UdpRequest& req) -> std::vector<std::string> {
    return FakeUdpTracker::Working(Reply(), current_id.load())(req);
  });
  UdpTrackerClient::Options options;
  // The dropped announce costs one timeout; one long enough that no answer is late for it.
  options.base_timeout = absl::Seconds(1);
  UdpTrackerClient client(options);
  ASSERT_TRUE(client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(10)).ok());
  current_id = 2;
  auto reply = client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(tracker->count(UdpAction::kConnect), 2);
}

TEST(UdpClientTest, PortUnreachable) {
  int port;
  {
    auto tracker = Start([](const UdpRequest&) { return std::vector<std::string>{}; });
    port = tracker->port();
  }
  UdpTrackerClient client({});
  auto url = *bt::tracker::ParseTrackerUrl("udp://127.0.0.1:" + std::to_string(port));
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  auto reply = client.Announce(url, Params(), deadline);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
  EXPECT_NE(reply.status().message().find("port unreachable"), std::string::npos);
}

TEST(UdpClientTest, Cancellation) {
  auto tracker = Start([](const UdpRequest&) { return std::vector<std::string>{}; });
  UdpTrackerClient client({});
  auto reply = client.Announce(Url(*tracker), Params(), absl::Now() + absl::Seconds(60),
                               [&] { return tracker->count(UdpAction::kConnect) > 0; });
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kCancelled) << reply.status();
}

TEST(UdpClientTest, RejectsBadInputBeforeSending) {
  auto tracker = Start(FakeUdpTracker::Working(Reply()));
  UdpTrackerClient client({});
  AnnounceParams bad = Params();
  bad.info_hash = "short";
  EXPECT_EQ(client.Announce(Url(*tracker), bad, absl::Now() + absl::Seconds(5)).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto http = *bt::tracker::ParseTrackerUrl("http://127.0.0.1/announce");
  EXPECT_EQ(client.Announce(http, Params(), absl::Now() + absl::Seconds(5)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(tracker->requests().empty());
}

TEST(UdpClientTest, UnresolvableName) {
  UdpTrackerClient client({});
  auto url = *bt::tracker::ParseTrackerUrl("udp://no-such-host.invalid:6969");
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  auto reply = client.Announce(url, Params(), deadline);
  EXPECT_FALSE(reply.ok());
  EXPECT_LT(absl::Now(), deadline + kSlack);
}

}  // namespace
}  // namespace swarm::tracker_svc
