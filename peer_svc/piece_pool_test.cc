#include "peer_svc/piece_pool.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::peer_svc {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

bt::Bitfield Have(uint32_t n, std::vector<uint32_t> pieces) {
  bt::Bitfield b(n);
  for (uint32_t p : pieces) b.Set(p);
  return b;
}

bt::Bitfield All(uint32_t n) {
  bt::Bitfield b(n);
  b.SetAll();
  return b;
}

class PiecePoolTest : public ::testing::Test {
 protected:
  absl::Time now_ = absl::FromUnixSeconds(1000);
  PiecePool pool_{10};
};

TEST_F(PiecePoolTest, LeasesAreAddedOnce) {
  EXPECT_TRUE(pool_.AddLease(3, now_));
  EXPECT_FALSE(pool_.AddLease(3, now_));
  EXPECT_FALSE(pool_.AddLease(10, now_)) << "out of range";
  EXPECT_EQ(pool_.size(), 1u);
  EXPECT_EQ(pool_.num_free(), 1u);
  EXPECT_TRUE(pool_.Holds(3));
}

TEST_F(PiecePoolTest, PicksFreePiecesThePeerHasLowestFirst) {
  for (uint32_t p : {5u, 2u, 7u}) pool_.AddLease(p, now_);
  pool_.SetPeerPieces(1, Have(10, {5, 7}));
  EXPECT_FALSE(pool_.Pick(2, now_).has_value()) << "unknown peer";
  EXPECT_EQ(pool_.Pick(1, now_), 5u);
  EXPECT_EQ(pool_.Pick(1, now_), 7u);
  EXPECT_FALSE(pool_.Pick(1, now_).has_value());
  EXPECT_EQ(pool_.num_free(), 1u);
  pool_.AddPeerPiece(1, 2);
  EXPECT_EQ(pool_.Pick(1, now_), 2u);
}

TEST_F(PiecePoolTest, OnePeerPerPieceUntilEndgame) {
  pool_.AddLease(4, now_);
  pool_.SetPeerPieces(1, All(10));
  pool_.SetPeerPieces(2, All(10));
  EXPECT_EQ(pool_.Pick(1, now_), 4u);
  EXPECT_FALSE(pool_.Pick(2, now_).has_value());
  EXPECT_TRUE(pool_.Wants(2)) << "interested: the piece may come free";
  pool_.set_endgame(true);
  EXPECT_EQ(pool_.Pick(2, now_), 4u);
  EXPECT_FALSE(pool_.Pick(1, now_).has_value()) << "already fetching it";
  pool_.SetPeerPieces(3, All(10));
  EXPECT_FALSE(pool_.Pick(3, now_).has_value()) << "at most two copies in flight";

  std::vector<PiecePool::PeerKey> losers;
  EXPECT_TRUE(pool_.Take(4, 2, now_, &losers));
  EXPECT_THAT(losers, ElementsAre(1));
  losers.clear();
  EXPECT_FALSE(pool_.Take(4, 1, now_, &losers)) << "the first copy won";
  EXPECT_EQ(pool_.size(), 0u);
}

// A trickling peer must not hold its piece until the endgame: once fetches here are known to
// take about a second, one running for over four of them may be taken up by a second peer.
TEST_F(PiecePoolTest, ASlowFetchIsTakenUpBeforeTheEndgame) {
  for (uint32_t piece : {1, 2, 3}) pool_.AddLease(piece, now_);
  pool_.SetPeerPieces(1, All(10));
  pool_.SetPeerPieces(2, All(10));
  pool_.SetPeerPieces(3, All(10));
  EXPECT_EQ(pool_.SlowAfter(), absl::InfiniteDuration()) << "no fetch has finished yet";
  EXPECT_EQ(pool_.Pick(1, now_), 1u);  // the slow one
  EXPECT_EQ(pool_.Pick(2, now_), 2u);
  EXPECT_EQ(pool_.Pick(3, now_), 3u);
  std::vector<PiecePool::PeerKey> losers;
  ASSERT_TRUE(pool_.Take(2, 2, now_ + absl::Seconds(1), &losers));
  ASSERT_TRUE(pool_.Take(3, 3, now_ + absl::Seconds(1), &losers));
  EXPECT_EQ(pool_.SlowAfter(), absl::Seconds(4));

  EXPECT_FALSE(pool_.HasSlowFetch(now_ + absl::Seconds(4)));
  EXPECT_FALSE(pool_.Pick(2, now_ + absl::Seconds(4)).has_value()) << "not slow yet";
  EXPECT_TRUE(pool_.HasSlowFetch(now_ + absl::Seconds(5)));
  EXPECT_EQ(pool_.Pick(2, now_ + absl::Seconds(5)), 1u);
  EXPECT_FALSE(pool_.Pick(3, now_ + absl::Seconds(5)).has_value()) << "two copies at most";
  EXPECT_FALSE(pool_.HasSlowFetch(now_ + absl::Seconds(5)));
  ASSERT_TRUE(pool_.Take(1, 2, now_ + absl::Seconds(6), &losers));
  EXPECT_THAT(losers, ElementsAre(1)) << "the slow peer stops";
}

TEST_F(PiecePoolTest, QuickFetchesStillWaitAQuarterSecondBeforeASecondCopy) {
  pool_.AddLease(1, now_);
  pool_.AddLease(2, now_);
  pool_.SetPeerPieces(1, All(10));
  pool_.SetPeerPieces(2, All(10));
  EXPECT_EQ(pool_.Pick(1, now_), 1u);
  EXPECT_EQ(pool_.Pick(2, now_), 2u);
  std::vector<PiecePool::PeerKey> losers;
  ASSERT_TRUE(pool_.Take(2, 2, now_ + absl::Milliseconds(10), &losers));
  EXPECT_EQ(pool_.SlowAfter(), absl::Milliseconds(250));
  EXPECT_FALSE(pool_.Pick(2, now_ + absl::Milliseconds(250)).has_value());
  EXPECT_EQ(pool_.Pick(2, now_ + absl::Milliseconds(300)), 1u);
}

TEST_F(PiecePoolTest, EndgamePrefersTheLeastAdvancedPiece) {
  pool_.set_endgame(true);
  pool_.AddLease(1, now_);
  pool_.AddLease(2, now_);
  pool_.SetPeerPieces(1, All(10));
  pool_.SetPeerPieces(2, All(10));
  pool_.SetPeerPieces(3, All(10));
  EXPECT_EQ(pool_.Pick(1, now_), 1u);
  EXPECT_EQ(pool_.Pick(2, now_), 2u);
  pool_.SetProgress(1, 1, 50000);
  pool_.SetProgress(2, 2, 1000);
  EXPECT_EQ(pool_.Pick(3, now_), 2u);
}

TEST_F(PiecePoolTest, ReleaseAndRemovePeerFreePieces) {
  pool_.AddLease(1, now_);
  pool_.AddLease(2, now_);
  pool_.SetPeerPieces(1, All(10));
  pool_.SetPeerPieces(2, All(10));
  EXPECT_EQ(pool_.Pick(1, now_), 1u);
  EXPECT_EQ(pool_.Pick(1, now_), 2u);
  pool_.Release(1, 1, now_);
  pool_.Release(1, 2, now_);  // not the fetcher: no-op
  EXPECT_EQ(pool_.Pick(2, now_), 1u);
  pool_.RemovePeer(1, now_);
  EXPECT_EQ(pool_.Pick(2, now_), 2u);
  EXPECT_FALSE(pool_.Pick(1, now_).has_value()) << "gone";
}

TEST_F(PiecePoolTest, TakeNeedsTheFetcher) {
  pool_.AddLease(1, now_);
  pool_.SetPeerPieces(1, All(10));
  std::vector<PiecePool::PeerKey> losers;
  EXPECT_FALSE(pool_.Take(1, 1, now_, &losers)) << "not being fetched by peer 1";
  EXPECT_EQ(pool_.Pick(1, now_), 1u);
  EXPECT_TRUE(pool_.Take(1, 1, now_, &losers));
  EXPECT_THAT(losers, IsEmpty());
  EXPECT_FALSE(pool_.Holds(1));
}

TEST_F(PiecePoolTest, RemoveReturnsFetchers) {
  pool_.set_endgame(true);
  pool_.AddLease(1, now_);
  pool_.SetPeerPieces(1, All(10));
  pool_.SetPeerPieces(2, All(10));
  pool_.Pick(1, now_);
  pool_.Pick(2, now_);
  EXPECT_THAT(pool_.Remove(1), UnorderedElementsAre(1, 2));
  EXPECT_THAT(pool_.Remove(1), IsEmpty());
  EXPECT_EQ(pool_.size(), 0u);
}

TEST_F(PiecePoolTest, ExcludedPiecesAreNotPicked) {
  pool_.AddLease(1, now_);
  pool_.AddLease(2, now_);
  pool_.SetPeerPieces(1, All(10));
  EXPECT_EQ(pool_.Pick(1, now_), 1u);
  pool_.Exclude(1, 1);
  pool_.Release(1, 1, now_);
  EXPECT_EQ(pool_.Pick(1, now_), 2u);
  EXPECT_FALSE(pool_.Pick(1, now_).has_value());
}

TEST_F(PiecePoolTest, ProgressIsReportedWhenItGrows) {
  pool_.AddLease(1, now_);
  pool_.AddLease(2, now_);
  pool_.SetPeerPieces(1, All(10));
  pool_.Pick(1, now_);
  pool_.Pick(1, now_);
  pool_.SetProgress(1, 1, 100);
  auto progress = pool_.TakeProgress();
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].piece, 1u);
  EXPECT_EQ(progress[0].bytes, 100u);
  EXPECT_THAT(pool_.TakeProgress(), IsEmpty()) << "no change";
  pool_.SetProgress(1, 1, 200);
  pool_.SetProgress(2, 1, 5);
  EXPECT_EQ(pool_.TakeProgress().size(), 2u);
  // Released and fetched again from scratch: reported again as it grows.
  pool_.Release(1, 1, now_);
  pool_.Pick(1, now_);
  pool_.SetProgress(1, 1, 50);
  progress = pool_.TakeProgress();
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].bytes, 50u);
}

TEST_F(PiecePoolTest, OrphansAfterGrace) {
  pool_.AddLease(1, now_);
  pool_.AddLease(2, now_);
  pool_.AddLease(3, now_);
  pool_.SetPeerPieces(1, Have(10, {1, 3}));
  pool_.Exclude(3, 1);
  EXPECT_THAT(pool_.TakeOrphans(now_ + absl::Seconds(1), absl::Seconds(5)), IsEmpty())
      << "peers may still be connecting";
  EXPECT_THAT(pool_.TakeOrphans(now_ + absl::Seconds(5), absl::Seconds(5)), ElementsAre(2, 3));
  EXPECT_EQ(pool_.size(), 1u);
  EXPECT_EQ(pool_.Pick(1, now_), 1u);
  pool_.RemovePeer(1, now_ + absl::Seconds(10));
  EXPECT_THAT(pool_.TakeOrphans(now_ + absl::Seconds(12), absl::Seconds(5)), IsEmpty())
      << "grace restarts when a piece comes free";
  EXPECT_THAT(pool_.TakeOrphans(now_ + absl::Seconds(15), absl::Seconds(5)), ElementsAre(1));
}

}  // namespace
}  // namespace swarm::peer_svc
