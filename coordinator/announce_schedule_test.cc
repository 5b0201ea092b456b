#include "coordinator/announce_schedule.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

using pb::COMPLETED;
using pb::NONE;
using pb::STARTED;
using pb::STOPPED;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1000);

AnnounceIdentity Who(WorkerId worker) {
  AnnounceIdentity id;
  id.worker = worker;
  id.peer_id = std::string(20, static_cast<char>('a' + worker));
  id.port = 6880 + static_cast<uint32_t>(worker);
  id.ip = worker == 2 ? "10.0.0.2" : "";
  return id;
}

TrackerAnswer Answer(uint32_t interval_s = 1800, uint32_t min_interval_s = 0) {
  TrackerAnswer a;
  a.interval_s = interval_s;
  a.min_interval_s = min_interval_s;
  a.tracker_url = "http://t/announce";
  return a;
}

// (worker, event) of each due announce, in worker order.
std::vector<std::pair<WorkerId, pb::AnnounceEvent>> Events(
    const std::vector<DueAnnounce>& due) {
  std::vector<std::pair<WorkerId, pb::AnnounceEvent>> out;
  for (const DueAnnounce& d : due) out.emplace_back(d.who.worker, d.event);
  return out;
}

using Ev = std::vector<std::pair<WorkerId, pb::AnnounceEvent>>;

TEST(AnnounceScheduleTest, EachIdentityStartsThenAnnouncesAtTheInterval) {
  AnnounceSchedule s;
  s.SetIdentities({Who(1), Who(2)}, kT0);
  std::vector<DueAnnounce> due = s.TakeDue(kT0);
  ASSERT_EQ(Events(due), (Ev{{1, STARTED}, {2, STARTED}}));
  EXPECT_EQ(due[1].who, Who(2));
  EXPECT_FALSE(due[0].final);
  EXPECT_THAT(s.TakeDue(kT0), IsEmpty());  // in flight: not twice
  EXPECT_EQ(s.Succeeded(1, STARTED, Answer(), kT0), absl::Minutes(30));
  EXPECT_EQ(s.Succeeded(2, STARTED, Answer(), kT0), absl::Minutes(30));
  EXPECT_THAT(s.TakeDue(kT0 + absl::Minutes(29)), IsEmpty());
  EXPECT_EQ(Events(s.TakeDue(kT0 + absl::Minutes(30))), (Ev{{1, NONE}, {2, NONE}}));
}

TEST(AnnounceScheduleTest, WantPeersBringsTheNextAnnounceForwardAsFarAsAllowed) {
  AnnounceSchedule s;
  s.SetIdentities({Who(1), Who(2)}, kT0);
  EXPECT_FALSE(s.WantPeers(kT0)) << "nothing answered yet: the started announces are due anyway";
  s.TakeDue(kT0);
  EXPECT_FALSE(s.WantPeers(kT0)) << "in flight";
  s.Succeeded(1, STARTED, Answer(1800), kT0);
  s.Succeeded(2, STARTED, Answer(1800, 600), kT0);  // the tracker's min interval: 10 min

  // A minute in: worker 1 may announce 5 min after its last one, worker 2 after 10.
  EXPECT_TRUE(s.WantPeers(kT0 + absl::Minutes(1)));
  EXPECT_FALSE(s.WantPeers(kT0 + absl::Minutes(1))) << "already as early as allowed";
  EXPECT_EQ(s.next_announce(1), kT0 + absl::Minutes(5));
  EXPECT_EQ(s.next_announce(2), kT0 + absl::Minutes(10));
  EXPECT_THAT(s.TakeDue(kT0 + absl::Minutes(4)), IsEmpty());
  ASSERT_EQ(Events(s.TakeDue(kT0 + absl::Minutes(5))), (Ev{{1, NONE}}));
  s.Succeeded(1, NONE, Answer(1800), kT0 + absl::Minutes(5));
  EXPECT_EQ(s.next_announce(1), kT0 + absl::Minutes(35)) << "back to the interval";

  // Long after the last announce: at once.
  ASSERT_EQ(Events(s.TakeDue(kT0 + absl::Minutes(10))), (Ev{{2, NONE}}));
  s.Succeeded(2, NONE, Answer(1800, 600), kT0 + absl::Minutes(10));
  EXPECT_TRUE(s.WantPeers(kT0 + absl::Minutes(30)));
  EXPECT_EQ(s.next_announce(1), kT0 + absl::Minutes(30));
  EXPECT_EQ(s.next_announce(2), kT0 + absl::Minutes(30));
}

TEST(AnnounceScheduleTest, WantPeersLeavesFailingAndLeavingIdentitiesAlone) {
  AnnounceSchedule s;
  s.SetIdentities({Who(1), Who(2)}, kT0);
  s.TakeDue(kT0);
  s.Succeeded(1, STARTED, Answer(1800), kT0);
  s.Succeeded(2, STARTED, Answer(1800), kT0);
  s.TakeDue(kT0 + absl::Minutes(30));
  s.Failed(1, NONE, kT0 + absl::Minutes(30));  // retried in 5 s, then 10 s ...
  s.Succeeded(2, NONE, Answer(1800), kT0 + absl::Minutes(30));
  s.SetIdentities({Who(1)}, kT0 + absl::Minutes(31));  // worker 2 leaves
  EXPECT_FALSE(s.WantPeers(kT0 + absl::Hours(2)));
  EXPECT_EQ(s.next_announce(1), kT0 + absl::Minutes(30) + absl::Seconds(5));
}

TEST(AnnounceScheduleTest, WantPeersHonoursTheCap) {
  AnnounceSchedule::Options o;
  o.max_interval = absl::Seconds(2);
  AnnounceSchedule s(o);
  s.SetIdentities({Who(1)}, kT0);
  s.TakeDue(kT0);
  s.Succeeded(1, STARTED, Answer(1800, 900), kT0);
  EXPECT_EQ(s.next_announce(1), kT0 + absl::Seconds(2));
  EXPECT_FALSE(s.WantPeers(kT0 + absl::Seconds(1))) << "the cap is sooner than any early one";
}

TEST(AnnounceScheduleTest, IntervalBounds) {
  AnnounceSchedule::Options o;
  AnnounceSchedule plain(o);
  plain.SetIdentities({Who(1)}, kT0);
  plain.TakeDue(kT0);
  EXPECT_EQ(plain.Succeeded(1, STARTED, Answer(0), kT0), absl::Minutes(30));  // none given
  plain.TakeDue(kT0 + absl::Hours(1));
  EXPECT_EQ(plain.Succeeded(1, NONE, Answer(2), kT0), absl::Seconds(10));  // our floor
  plain.TakeDue(kT0 + absl::Hours(1));
  EXPECT_EQ(plain.Succeeded(1, NONE, Answer(60, 120), kT0), absl::Seconds(120));
  // A tracker's interval or min interval of 2^32-1 s: the ceiling, 2 hours.
  plain.TakeDue(kT0 + absl::Hours(1));
  EXPECT_EQ(plain.Succeeded(1, NONE, Answer(0xFFFFFFFF), kT0), absl::Hours(2));
  plain.TakeDue(kT0 + absl::Hours(3));
  EXPECT_EQ(plain.Succeeded(1, NONE, Answer(60, 0xFFFFFFFF), kT0), absl::Hours(2));

  // A cap (max_announce_interval_s) wins over the tracker's interval, its min interval and
  // our floor.
  o.max_interval = absl::Seconds(2);
  AnnounceSchedule capped(o);
  capped.SetIdentities({Who(1)}, kT0);
  capped.TakeDue(kT0);
  EXPECT_EQ(capped.Succeeded(1, STARTED, Answer(1800), kT0), absl::Seconds(2));
  EXPECT_THAT(capped.TakeDue(kT0 + absl::Seconds(1)), IsEmpty());
  EXPECT_EQ(Events(capped.TakeDue(kT0 + absl::Seconds(2))), (Ev{{1, NONE}}));
  // Our floor is lowered to the cap, not below it: a tracker asking for 1 s gets 2 s.
  EXPECT_EQ(capped.Succeeded(1, NONE, Answer(1, 0), kT0), absl::Seconds(2));
  capped.TakeDue(kT0 + absl::Seconds(5));
  EXPECT_EQ(capped.Succeeded(1, NONE, Answer(1800, 951), kT0), absl::Seconds(2));
}

TEST(AnnounceScheduleTest, FailuresRetryTheSameEventWithBackoffUnderTheCap) {
  AnnounceSchedule::Options o;
  AnnounceSchedule s(o);
  s.SetIdentities({Who(1)}, kT0);
  s.TakeDue(kT0);
  EXPECT_EQ(s.Failed(1, STARTED, kT0), absl::Seconds(5));
  EXPECT_THAT(s.TakeDue(kT0 + absl::Seconds(4)), IsEmpty());
  EXPECT_EQ(Events(s.TakeDue(kT0 + absl::Seconds(5))), (Ev{{1, STARTED}}));
  EXPECT_EQ(s.Failed(1, STARTED, kT0), absl::Seconds(10));
  s.TakeDue(kT0 + absl::Seconds(10));
  s.Succeeded(1, STARTED, Answer(), kT0);
  s.TakeDue(kT0 + absl::Hours(1));
  EXPECT_EQ(s.Failed(1, NONE, kT0), absl::Seconds(5));  // reset by the success

  o.max_interval = absl::Seconds(1);
  AnnounceSchedule capped(o);
  capped.SetIdentities({Who(1)}, kT0);
  capped.TakeDue(kT0);
  EXPECT_EQ(capped.Failed(1, STARTED, kT0), absl::Seconds(1));
}

TEST(AnnounceScheduleTest, IdentityThatGoesAwayAnnouncesStoppedOnceAndOnlyIfStarted) {
  AnnounceSchedule s;
  s.SetIdentities({Who(1), Who(2)}, kT0);
  s.TakeDue(kT0);
  s.Succeeded(1, STARTED, Answer(), kT0);
  s.Failed(2, STARTED, kT0);  // the tracker never heard of 2
  s.SetIdentities({}, kT0);
  std::vector<DueAnnounce> due = s.TakeDue(kT0);
  ASSERT_EQ(Events(due), (Ev{{1, STOPPED}}));
  EXPECT_TRUE(due[0].final);
  EXPECT_FALSE(s.Has(2));
  EXPECT_EQ(s.Failed(1, STOPPED, kT0), absl::ZeroDuration());  // not retried
  EXPECT_TRUE(s.empty());
}

TEST(AnnounceScheduleTest, ComingBackBeforeStoppedWentOutKeepsTheIdentity) {
  AnnounceSchedule s;
  s.SetIdentities({Who(kCoordinatorIdentity)}, kT0);
  s.TakeDue(kT0);
  s.Succeeded(kCoordinatorIdentity, STARTED, Answer(), kT0);
  s.SetIdentities({Who(3)}, kT0);                     // a worker listens now
  s.SetIdentities({Who(kCoordinatorIdentity)}, kT0);  // and is gone again
  EXPECT_THAT(s.TakeDue(kT0), IsEmpty());             // 3 never started; 0 never left
  EXPECT_FALSE(s.Has(3));
  EXPECT_TRUE(s.Has(kCoordinatorIdentity));
}

TEST(AnnounceScheduleTest, CompleteSendsCompletedFromStartedIdentitiesOnly) {
  AnnounceSchedule s;
  s.SetIdentities({Who(1), Who(2)}, kT0);
  s.TakeDue(kT0);
  s.Succeeded(1, STARTED, Answer(), kT0);
  s.Failed(2, STARTED, kT0);
  s.Complete(kT0 + absl::Seconds(1));
  EXPECT_EQ(Events(s.TakeDue(kT0 + absl::Seconds(1))), (Ev{{1, COMPLETED}}));
  s.Succeeded(1, COMPLETED, Answer(), kT0 + absl::Seconds(1));
  // 2 starts at its retry, as a seeder (left 0): no `completed` for it.
  EXPECT_EQ(Events(s.TakeDue(kT0 + absl::Seconds(5))), (Ev{{2, STARTED}}));
  s.Succeeded(2, STARTED, Answer(), kT0 + absl::Seconds(5));
  EXPECT_THAT(s.TakeDue(kT0 + absl::Seconds(6)), IsEmpty());
  EXPECT_EQ(Events(s.TakeDue(kT0 + absl::Hours(1))), (Ev{{1, NONE}, {2, NONE}}));
}

TEST(AnnounceScheduleTest, CompleteWhileStartedIsInFlight) {
  AnnounceSchedule s;
  s.SetIdentities({Who(1), Who(2)}, kT0);
  s.TakeDue(kT0);
  s.Complete(kT0);  // both `started` still in flight, sent with left > 0
  s.Succeeded(1, STARTED, Answer(), kT0);
  s.Failed(2, STARTED, kT0);
  EXPECT_EQ(Events(s.TakeDue(kT0)), (Ev{{1, COMPLETED}}));
  EXPECT_EQ(Events(s.TakeDue(kT0 + absl::Seconds(5))), (Ev{{2, STARTED}}));
}

TEST(AnnounceScheduleTest, LeaveAllAfterCompleteSaysCompletedThenStopped) {
  AnnounceSchedule s;
  s.SetIdentities({Who(1)}, kT0);
  s.TakeDue(kT0);
  s.Succeeded(1, STARTED, Answer(), kT0);
  s.Complete(kT0);
  s.LeaveAll();
  std::vector<DueAnnounce> due = s.TakeDue(kT0);
  ASSERT_EQ(Events(due), (Ev{{1, COMPLETED}}));
  EXPECT_TRUE(due[0].final);
  s.Failed(1, COMPLETED, kT0);  // given up, not retried
  due = s.TakeDue(kT0);
  ASSERT_EQ(Events(due), (Ev{{1, STOPPED}}));
  s.Succeeded(1, STOPPED, Answer(), kT0);
  EXPECT_TRUE(s.empty());
  s.SetIdentities({Who(1)}, kT0);  // over: nobody joins again
  EXPECT_TRUE(s.empty());

  // A `completed` that gets through is followed by `stopped` at once, not at an interval.
  AnnounceSchedule t;
  t.SetIdentities({Who(1)}, kT0);
  t.TakeDue(kT0);
  t.Succeeded(1, STARTED, Answer(), kT0);
  t.Complete(kT0);
  t.LeaveAll();
  ASSERT_EQ(Events(t.TakeDue(kT0)), (Ev{{1, COMPLETED}}));
  EXPECT_EQ(t.Succeeded(1, COMPLETED, Answer(), kT0), absl::ZeroDuration());
  EXPECT_EQ(Events(t.TakeDue(kT0)), (Ev{{1, STOPPED}}));
  EXPECT_TRUE(s.empty());
}

TEST(AnnounceScheduleTest, LeaveAllWhileARegularAnnounceIsInFlight) {
  AnnounceSchedule s;
  s.SetIdentities({Who(1)}, kT0);
  s.TakeDue(kT0);
  s.Succeeded(1, STARTED, Answer(), kT0);
  ASSERT_EQ(Events(s.TakeDue(kT0 + absl::Hours(1))), (Ev{{1, NONE}}));
  s.LeaveAll();
  EXPECT_THAT(s.TakeDue(kT0), IsEmpty());
  EXPECT_EQ(s.Failed(1, NONE, kT0), absl::ZeroDuration());  // cut short: no retry
  EXPECT_EQ(Events(s.TakeDue(kT0)), (Ev{{1, STOPPED}}));
}

TEST(AnnounceScheduleTest, TrackerIdsAreKeptPerIdentity) {
  AnnounceSchedule s;
  s.SetIdentities({Who(1), Who(2)}, kT0);
  s.TakeDue(kT0);
  TrackerAnswer a = Answer();
  a.tracker_id = "tid-1";
  s.Succeeded(1, STARTED, a, kT0);
  s.Succeeded(2, STARTED, Answer(), kT0);
  std::vector<DueAnnounce> due = s.TakeDue(kT0 + absl::Hours(1));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].tracker_ids.at("http://t/announce"), "tid-1");
  EXPECT_THAT(due[1].tracker_ids, IsEmpty());
}

}  // namespace
}  // namespace swarm::coordinator
