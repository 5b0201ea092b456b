#include "peer_svc/choker.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::peer_svc {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Key = Choker::PeerKey;

constexpr uint64_t kMB = 1 << 20;

class ChokerTest : public ::testing::Test {
 protected:
  ChokerTest() : choker_(Options(), now_) {}

  static Choker::Options Options() {
    Choker::Options o;
    o.upload_slots = 2;
    return o;
  }

  // Peers 1..n, connected one second apart, all interested.
  void AddInterested(Key n) {
    for (Key k = 1; k <= n; ++k) {
      choker_.AddPeer(k, now_);
      choker_.SetInterested(k, true);
      now_ += absl::Seconds(1);
    }
  }

  // Advances to the next rechoke, the peers having sent us (or taken) `rates[i]` MB/s.
  std::vector<Key> RechokeWithRates(const std::vector<double>& rates, bool seeding = false) {
    const absl::Time before = now_;
    now_ = choker_.next_rechoke();
    const double seconds = absl::ToDoubleSeconds(now_ - before);
    for (size_t i = 0; i < rates.size(); ++i) {
      Choker::PeerStats& s = stats_[i];
      s.key = i + 1;
      const uint64_t bytes = static_cast<uint64_t>(rates[i] * kMB * seconds);
      (seeding ? s.uploaded : s.downloaded) += bytes;
    }
    return choker_.Rechoke(now_, absl::MakeConstSpan(stats_.data(), rates.size()), seeding);
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  Choker choker_;
  std::vector<Choker::PeerStats> stats_ = std::vector<Choker::PeerStats>(16);
};

TEST_F(ChokerTest, InterestedPeersAreUnchokedAtOnceWhileSlotsAreFree) {
  choker_.AddPeer(1, now_);
  choker_.AddPeer(2, now_);
  choker_.AddPeer(3, now_);
  EXPECT_FALSE(choker_.unchoked(1)) << "peers start choked";
  EXPECT_TRUE(choker_.SetInterested(1, true));
  EXPECT_FALSE(choker_.SetInterested(1, true)) << "already unchoked";
  EXPECT_TRUE(choker_.SetInterested(2, true));
  EXPECT_FALSE(choker_.SetInterested(3, true)) << "both regular slots taken";
  EXPECT_TRUE(choker_.unchoked(1));
  EXPECT_TRUE(choker_.unchoked(2));
  EXPECT_FALSE(choker_.unchoked(3));
  EXPECT_EQ(choker_.num_uploading(), 2u);
}

TEST_F(ChokerTest, PeerGoneFreesItsSlot) {
  AddInterested(3);
  EXPECT_THAT(choker_.FillFreeSlots(), IsEmpty());
  choker_.RemovePeer(1);
  EXPECT_THAT(choker_.FillFreeSlots(), ElementsAre(3));
  EXPECT_TRUE(choker_.unchoked(3));
}

TEST_F(ChokerTest, PeerThatLosesInterestFreesItsSlot) {
  AddInterested(3);
  EXPECT_FALSE(choker_.SetInterested(2, false));
  EXPECT_THAT(choker_.FillFreeSlots(), ElementsAre(3));
  EXPECT_EQ(choker_.num_uploading(), 2u);
}

TEST_F(ChokerTest, RechokeEveryTenSeconds) {
  const absl::Time first = choker_.next_rechoke();
  EXPECT_EQ(first, now_ + absl::Seconds(10));
  now_ = first;
  choker_.Rechoke(now_, {}, false);
  EXPECT_EQ(choker_.next_rechoke(), first + absl::Seconds(10));
}

TEST_F(ChokerTest, LeechingUnchokesThoseThatGiveUsMostPlusOneOptimistic) {
  AddInterested(5);
  // Peers 4 and 5 send fastest: they get the regular slots. The optimistic unchoke goes to
  // the newest peer never optimistically unchoked: 3.
  EXPECT_THAT(RechokeWithRates({1, 0, 0, 5, 3}), ElementsAre(3, 4, 5));
  EXPECT_EQ(choker_.optimistic(), 3u);
  EXPECT_FALSE(choker_.unchoked(1));
  EXPECT_FALSE(choker_.unchoked(2));
}

TEST_F(ChokerTest, SeedingUnchokesThoseThatTakeMost) {
  AddInterested(4);
  EXPECT_THAT(RechokeWithRates({9, 1, 0, 2}, /*seeding=*/true), ElementsAre(1, 3, 4));
  EXPECT_EQ(choker_.optimistic(), 3u);
}

TEST_F(ChokerTest, RatesAreMeasuredPerInterval) {
  AddInterested(4);
  EXPECT_THAT(RechokeWithRates({5, 4, 0, 0}), ElementsAre(1, 2, 4));
  // Peer 1's total stays ahead, but over the last interval it sent nothing: 2 and 3 are the
  // fastest now (4 keeps the optimistic slot).
  EXPECT_THAT(RechokeWithRates({0, 4, 3, 0}), ElementsAre(2, 3, 4));
}

TEST_F(ChokerTest, TiesKeepThePeersAlreadyUnchoked) {
  AddInterested(4);  // 1 and 2 got the slots at once
  EXPECT_THAT(RechokeWithRates({0, 0, 0, 0}), ElementsAre(1, 2, 4));
}

TEST_F(ChokerTest, NotInterestedPeersAreChokedAtTheRechoke) {
  AddInterested(2);
  choker_.SetInterested(1, false);
  EXPECT_TRUE(choker_.unchoked(1)) << "until the rechoke";
  EXPECT_THAT(RechokeWithRates({0, 0}), ElementsAre(2));
  EXPECT_FALSE(choker_.unchoked(1));
}

TEST_F(ChokerTest, OptimisticUnchokeRotatesEveryThirtySeconds) {
  AddInterested(6);  // 1 and 2 hold the regular slots
  const std::vector<double> rates = {5, 5, 0, 0, 0, 0};
  RechokeWithRates(rates);
  EXPECT_EQ(choker_.optimistic(), 6u) << "the newest first";
  RechokeWithRates(rates);  // +10 s
  EXPECT_EQ(choker_.optimistic(), 6u);
  RechokeWithRates(rates);  // +20 s
  EXPECT_EQ(choker_.optimistic(), 6u);
  RechokeWithRates(rates);  // +30 s: the next one never tried, newest first
  EXPECT_EQ(choker_.optimistic(), 5u);
  EXPECT_FALSE(choker_.unchoked(6));
  for (int i = 0; i < 3; ++i) RechokeWithRates(rates);
  EXPECT_EQ(choker_.optimistic(), 4u);
  for (int i = 0; i < 3; ++i) RechokeWithRates(rates);
  EXPECT_EQ(choker_.optimistic(), 3u);
  for (int i = 0; i < 3; ++i) RechokeWithRates(rates);
  EXPECT_EQ(choker_.optimistic(), 6u) << "all tried: the one waiting longest";
}

TEST_F(ChokerTest, OptimisticPeerThatProvesFastTakesARegularSlot) {
  AddInterested(3);
  RechokeWithRates({5, 4, 0});
  EXPECT_EQ(choker_.optimistic(), 3u);
  // Peer 3 gave back the most: a regular slot; the optimistic one moves on to peer 2.
  EXPECT_THAT(RechokeWithRates({5, 1, 9}), ElementsAre(1, 2, 3));
  EXPECT_EQ(choker_.optimistic(), 2u);
}

TEST_F(ChokerTest, OptimisticPeerGoneIsReplacedAtTheNextRechoke) {
  AddInterested(4);
  RechokeWithRates({5, 5, 0, 0});
  EXPECT_EQ(choker_.optimistic(), 4u);
  choker_.RemovePeer(4);
  EXPECT_EQ(choker_.optimistic(), std::nullopt);
  EXPECT_THAT(RechokeWithRates({5, 5, 0}), ElementsAre(1, 2, 3));
  EXPECT_EQ(choker_.optimistic(), 3u);
}

TEST_F(ChokerTest, NewPeerIsFavouredForTheOptimisticSlot) {
  AddInterested(4);
  RechokeWithRates({5, 5, 0, 0});
  EXPECT_EQ(choker_.optimistic(), 4u);
  for (int i = 0; i < 3; ++i) RechokeWithRates({5, 5, 0, 0});
  EXPECT_EQ(choker_.optimistic(), 3u);
  choker_.AddPeer(9, now_);
  choker_.SetInterested(9, true);
  for (int i = 0; i < 3; ++i) RechokeWithRates({5, 5, 0, 0});
  EXPECT_EQ(choker_.optimistic(), 9u) << "a newcomer goes before peer 4's second turn";
}

TEST_F(ChokerTest, NobodyInterestedNobodyUnchoked) {
  choker_.AddPeer(1, now_);
  choker_.AddPeer(2, now_);
  EXPECT_THAT(RechokeWithRates({0, 0}), IsEmpty());
  EXPECT_EQ(choker_.optimistic(), std::nullopt);
  EXPECT_EQ(choker_.num_uploading(), 0u);
}

}  // namespace
}  // namespace swarm::peer_svc
