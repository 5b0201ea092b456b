#include "tracker_svc/announcer.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "bt/tracker/udp_packet.h"
#include "gtest/gtest.h"
#include "tracker_svc/testing/fake_http_tracker.h"
#include "tracker_svc/testing/fake_udp_tracker.h"

namespace swarm::tracker_svc {
namespace {

using bt::tracker::AnnounceParams;
using bt::tracker::UdpAction;
using testing::FakeHttpTracker;
using testing::FakeUdpTracker;

AnnounceParams Params() {
  AnnounceParams p;
  p.info_hash = std::string(20, 'i');
  p.peer_id = std::string(20, 'p');
  p.port = 6881;
  return p;
}

Announcer::Options FastOptions() {
  Announcer::Options o;
  o.udp.base_timeout = absl::Milliseconds(100);
  o.min_attempt_time = absl::Milliseconds(300);
  o.tier_order.seed = 7;
  return o;
}

std::unique_ptr<FakeHttpTracker> Http(FakeHttpTracker::Response response) {
  auto t = FakeHttpTracker::Start([response](const FakeHttpTracker::Request&) { return response; });
  EXPECT_TRUE(t.ok());
  return *std::move(t);
}

std::unique_ptr<FakeUdpTracker> Udp(FakeUdpTracker::Handler handler) {
  auto t = FakeUdpTracker::Start(std::move(handler));
  EXPECT_TRUE(t.ok());
  return *std::move(t);
}

const char kGoodBody[] =
    "d8:intervali60e5:peers6:\x7f\x00\x00\x01\x1a\xe1"
    "e";
std::string GoodBody() { return std::string(kGoodBody, sizeof(kGoodBody) - 1); }

TEST(AnnouncerTest, FallsBackWithinATierAndRemembersTheWinner) {
  auto broken = Http({.status = 500, .body = "oops"});
  auto good = Http({.body = GoodBody()});
  Announcer announcer(FastOptions());
  Announcer::Tiers tiers = {{broken->url(), good->url()}};
  for (int i = 0; i < 3; ++i) {
    auto r = announcer.Announce(Params(), tiers, {}, absl::Now() + absl::Seconds(10));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->tracker_url, good->url());
    EXPECT_EQ(r->tracker_ip, "127.0.0.1");  // where the answer came from
    ASSERT_EQ(r->reply.peers.size(), 1u);
  }
  // After the first success the good tracker is first in its tier: the broken one was asked
  // at most once.
  EXPECT_LE(broken->targets().size(), 1u);
  EXPECT_EQ(good->targets().size(), 3u);
}

TEST(AnnouncerTest, GoesToTheNextTierAndReportsEarlierFailuresAsWarnings) {
  auto refusing = Http({.body = "d14:failure reason8:go away!e"});
  auto silent_udp = Udp([](const bt::tracker::UdpRequest&) { return std::vector<std::string>{}; });
  auto good = Http({.body = GoodBody()});
  Announcer announcer(FastOptions());
  Announcer::Tiers tiers = {{refusing->url()}, {silent_udp->url()}, {good->url()}};
  // The silent tracker gets half of what is left after the first: about 1.5 s.
  auto r = announcer.Announce(Params(), tiers, {}, absl::Now() + absl::Seconds(3));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tracker_url, good->url());
  ASSERT_EQ(r->reply.warnings.size(), 2u);
  EXPECT_EQ(r->reply.warnings[0], refusing->url() + ": tracker failure: go away!");
  EXPECT_TRUE(absl::StartsWith(r->reply.warnings[1], silent_udp->url() + ": no answer"))
      << r->reply.warnings[1];
}

TEST(AnnouncerTest, AllFailListsEveryTracker) {
  auto refusing = Http({.body = "d14:failure reason8:go away!e"});
  auto missing = Http({.status = 404, .body = "<html>not found</html>"});
  Announcer announcer(FastOptions());
  auto r = announcer.Announce(Params(), {{refusing->url()}, {missing->url()}}, {},
                              absl::Now() + absl::Seconds(10));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "all 2 trackers tried failed"));
  EXPECT_TRUE(absl::StrContains(r.status().message(), "go away!"));
  EXPECT_TRUE(absl::StrContains(r.status().message(), "HTTP status 404"));
}

TEST(AnnouncerTest, SharesTheBudgetSoLaterTrackersGetTried) {
  auto hanging = Http({.never_answer = true});
  auto good = Http({.body = GoodBody()});
  Announcer::Options options = FastOptions();
  options.min_attempt_time = absl::Milliseconds(200);
  Announcer announcer(options);
  // Two trackers, 4 s: the hanging one gets about half, the good one the rest.
  auto r = announcer.Announce(Params(), {{hanging->url()}, {good->url()}}, {},
                              absl::Now() + absl::Seconds(4));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tracker_url, good->url());
  ASSERT_EQ(r->reply.warnings.size(), 1u);
  EXPECT_TRUE(absl::StrContains(r->reply.warnings[0], "timed out")) << r->reply.warnings[0];
}

TEST(AnnouncerTest, TrackerIdGoesOnlyToItsTracker) {
  auto a = Http({.status = 503});
  auto b = Http({.body = "d8:intervali60e10:tracker id3:xyz5:peers0:e"});
  Announcer announcer(FastOptions());
  auto r = announcer.Announce(Params(), {{a->url()}, {b->url()}}, {{b->url(), "id for b"}},
                              absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reply.tracker_id, "xyz");
  ASSERT_EQ(a->targets().size(), 1u);
  ASSERT_EQ(b->targets().size(), 1u);
  EXPECT_FALSE(absl::StrContains(a->targets()[0], "trackerid="));
  EXPECT_TRUE(absl::StrContains(b->targets()[0], "&trackerid=id%20for%20b"));
}

TEST(AnnouncerTest, BadUrlsAreInvalidArgument) {
  Announcer announcer(FastOptions());
  auto r = announcer.Announce(Params(), {{"ftp://x/announce", "udp://nohost"}}, {},
                              absl::Now() + absl::Seconds(5));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  r = announcer.Announce(Params(), {{}}, {}, absl::Now() + absl::Seconds(5));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AnnouncerTest, ScrapeSkipsTrackersWithoutScrapeAndUsesUdp) {
  auto no_scrape = Http({.body = "d5:filesdee"});
  bt::tracker::ScrapeCounts counts{"", 3, 4, 5};
  auto udp = Udp(FakeUdpTracker::Working({}, 9, counts));
  Announcer announcer(FastOptions());
  auto announced = announcer.Announce(Params(), {{udp->url()}}, {}, absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(announced.ok()) << announced.status();
  EXPECT_EQ(announced->tracker_ip, "127.0.0.1");
  std::string hash(20, 'h');
  auto r = announcer.Scrape({hash}, {{no_scrape->url("/tracker.php")}, {udp->url()}},
                            absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tracker_url, udp->url());
  ASSERT_EQ(r->counts.size(), 1u);
  EXPECT_EQ(r->counts[0], (bt::tracker::ScrapeCounts{hash, 3, 4, 5}));
  EXPECT_TRUE(no_scrape->targets().empty());
}

TEST(AnnouncerTest, HttpScrape) {
  std::string hash(20, 'h');
  auto tracker =
      Http({.body = "d5:filesd20:" + hash + "d8:completei1e10:downloadedi2e10:incompletei3eeee"});
  Announcer announcer(FastOptions());
  auto r = announcer.Scrape({hash}, {{tracker->url()}}, absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->counts.size(), 1u);
  EXPECT_EQ(r->counts[0], (bt::tracker::ScrapeCounts{hash, 1, 2, 3}));
  ASSERT_EQ(tracker->targets().size(), 1u);
  EXPECT_EQ(tracker->targets()[0], "/scrape?info_hash=" + hash);
}

}  // namespace
}  // namespace swarm::tracker_svc
