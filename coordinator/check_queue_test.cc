#include "coordinator/check_queue.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1000);
constexpr absl::Duration kTtl = absl::Seconds(30);

bt::Bitfield Pieces(uint32_t n, std::initializer_list<uint32_t> set) {
  bt::Bitfield b(n);
  for (uint32_t p : set) b.Set(p);
  return b;
}

TEST(CheckQueueTest, GrantsLowestFirstAndFinishes) {
  CheckQueue q(10, kTtl);
  EXPECT_TRUE(q.done());
  q.Add(Pieces(10, {1, 3, 4, 8}));
  EXPECT_FALSE(q.done());
  EXPECT_THAT(q.Grant(1, 2, kT0), ElementsAre(1, 3));
  EXPECT_THAT(q.Grant(2, 5, kT0), ElementsAre(4, 8));
  EXPECT_THAT(q.Grant(2, 5, kT0), IsEmpty());
  EXPECT_EQ(q.remaining(), 4u);
  EXPECT_FALSE(q.Finish(2, 1, kT0)) << "not worker 2's";
  EXPECT_TRUE(q.Finish(1, 1, kT0));
  EXPECT_FALSE(q.Finish(1, 1, kT0)) << "only once";
  EXPECT_FALSE(q.Finish(1, 9, kT0)) << "never granted";
  EXPECT_TRUE(q.Finish(1, 3, kT0));
  EXPECT_TRUE(q.Finish(2, 4, kT0));
  EXPECT_TRUE(q.Finish(2, 8, kT0));
  EXPECT_TRUE(q.done());
}

TEST(CheckQueueTest, ADeadWorkersPiecesGoToAnother) {
  CheckQueue q(10, kTtl);
  q.Add(Pieces(10, {2, 5, 7}));
  EXPECT_THAT(q.Grant(1, 3, kT0), ElementsAre(2, 5, 7));
  EXPECT_TRUE(q.Finish(1, 2, kT0));
  q.ReleaseWorker(1);
  EXPECT_EQ(q.queued(), 2u);
  EXPECT_FALSE(q.Finish(1, 5, kT0)) << "a late result of the dead worker";
  EXPECT_THAT(q.Grant(2, 10, kT0), ElementsAre(5, 7));
}

TEST(CheckQueueTest, ASilentWorkersBatchLapsesAndResultsKeepItAlive) {
  CheckQueue q(10, kTtl);
  q.Add(Pieces(10, {0, 1, 2, 3}));
  EXPECT_THAT(q.Grant(1, 2, kT0), ElementsAre(0, 1));
  EXPECT_THAT(q.Grant(2, 2, kT0), ElementsAre(2, 3));
  // Worker 1 reports just before its deadline: its batch lives on; worker 2's lapses.
  EXPECT_TRUE(q.Finish(1, 0, kT0 + kTtl - absl::Seconds(1)));
  EXPECT_EQ(q.Expire(kT0 + kTtl), 2u);
  EXPECT_FALSE(q.Finish(2, 2, kT0 + kTtl)) << "lapsed";
  EXPECT_THAT(q.Grant(3, 10, kT0 + kTtl), ElementsAre(2, 3));
  EXPECT_TRUE(q.Finish(1, 1, kT0 + kTtl));
  EXPECT_EQ(q.Expire(kT0 + kTtl * 3), 2u);  // worker 3 said nothing
}

TEST(CheckQueueTest, AddSkipsHeldPiecesAndWrongSizes) {
  CheckQueue q(4, kTtl);
  q.Add(Pieces(4, {0, 1}));
  EXPECT_THAT(q.Grant(1, 1, kT0), ElementsAre(0));
  q.Add(Pieces(4, {0, 3}));
  q.Add(Pieces(5, {4}));
  EXPECT_THAT(q.Grant(2, 10, kT0), ElementsAre(1, 3));
}

}  // namespace
}  // namespace swarm::coordinator
