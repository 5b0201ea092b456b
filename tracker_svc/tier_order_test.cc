#include "tracker_svc/tier_order.h"

#include <algorithm>
#include <string>

#include "gtest/gtest.h"

namespace swarm::tracker_svc {
namespace {

TierOrder::Options Seeded(size_t max_torrents = 100) {
  TierOrder::Options o;
  o.seed = 42;
  o.max_torrents = max_torrents;
  return o;
}

TierOrder::Tiers BigTiers() {
  TierOrder::Tiers tiers(2);
  for (int i = 0; i < 10; ++i) tiers[0].push_back("udp://a" + std::to_string(i) + ":1");
  tiers[1] = {"http://b/announce"};
  return tiers;
}

TEST(TierOrderTest, ShufflesWithinTiersOnlyAndOnlyOnce) {
  TierOrder order(Seeded());
  TierOrder::Tiers tiers = BigTiers();
  TierOrder::Tiers first = order.Order("t", tiers);
  ASSERT_EQ(first.size(), 2u);
  // Same members, tier by tier.
  for (size_t i = 0; i < tiers.size(); ++i) {
    std::vector<std::string> a = first[i], b = tiers[i];
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);
  }
  EXPECT_NE(first[0], tiers[0]);  // 10! orders: this seed does shuffle
  EXPECT_EQ(order.Order("t", tiers), first);
  EXPECT_EQ(order.Order("t", tiers), first);
}

TEST(TierOrderTest, AnsweredTrackerMovesToFrontOfItsTier) {
  TierOrder order(Seeded());
  TierOrder::Tiers tiers = BigTiers();
  TierOrder::Tiers before = order.Order("t", tiers);
  const std::string winner = before[0][7];
  order.MoveToFront("t", winner);
  TierOrder::Tiers after = order.Order("t", tiers);
  EXPECT_EQ(after[0][0], winner);
  // The others keep their relative order (BEP 12: move, not reshuffle).
  std::vector<std::string> rest = before[0];
  rest.erase(rest.begin() + 7);
  EXPECT_EQ(std::vector<std::string>(after[0].begin() + 1, after[0].end()), rest);
  // A tracker of the second tier moves within its own tier only.
  order.MoveToFront("t", "http://b/announce");
  EXPECT_EQ(order.Order("t", tiers)[0][0], winner);
  order.MoveToFront("t", "udp://unknown:1");  // no-op
  order.MoveToFront("other", winner);         // no-op
  EXPECT_EQ(order.Order("t", tiers)[0][0], winner);
}

TEST(TierOrderTest, TorrentsAreIndependentAndChangedListsReshuffle) {
  TierOrder order(Seeded());
  TierOrder::Tiers tiers = BigTiers();
  TierOrder::Tiers a = order.Order("a", tiers);
  order.MoveToFront("a", a[0][5]);
  EXPECT_NE(order.Order("b", tiers)[0][0], a[0][5]);  // b keeps its own order
  tiers[1].push_back("http://c/announce");
  TierOrder::Tiers changed = order.Order("a", tiers);
  EXPECT_EQ(changed[1].size(), 2u);
}

TEST(TierOrderTest, DropsDuplicatesAndEmptyTiers) {
  TierOrder order(Seeded());
  TierOrder::Tiers got = order.Order("t", {{}, {"u1", "u1", ""}, {"u1"}, {"u2"}});
  EXPECT_EQ(got, (TierOrder::Tiers{{"u1"}, {"u2"}}));
}

TEST(TierOrderTest, ForgetsOldestTorrentsBeyondTheLimit) {
  TierOrder order(Seeded(2));
  TierOrder::Tiers tiers = BigTiers();
  TierOrder::Tiers a = order.Order("a", tiers);
  order.MoveToFront("a", a[0][9]);
  order.Order("b", tiers);
  order.Order("c", tiers);                           // evicts "a"
  order.MoveToFront("a", a[0][9]);                   // unknown now: no-op, no growth
  TierOrder::Tiers again = order.Order("a", tiers);  // a fresh shuffle
  EXPECT_EQ(again.size(), 2u);
}

}  // namespace
}  // namespace swarm::tracker_svc
