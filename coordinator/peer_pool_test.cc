#include "coordinator/peer_pool.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1000);

bt::Endpoint P(const std::string& ip, uint16_t port) { return *bt::Endpoint::Make(ip, port); }

std::vector<std::string> Keys(const std::vector<bt::Endpoint>& peers) {
  std::vector<std::string> out;
  for (const bt::Endpoint& p : peers) out.push_back(p.ToString());
  return out;
}

// The pool keys peers by bt::Endpoint::ToString(): one key per peer however it was written.
TEST(PeerKeyTest, ValidatesAndCanonicalizes) {
  EXPECT_EQ(P("10.0.0.1", 6881).ToString(), "10.0.0.1:6881");
  EXPECT_EQ(P("::0001", 51413).ToString(), "[::1]:51413");
  EXPECT_EQ(P("2001:DB8::1", 1).ip().ToString(), "2001:db8::1");
  EXPECT_FALSE(bt::Endpoint::Make("10.0.0.1", 0).ok());
  EXPECT_FALSE(bt::Endpoint::Make("10.0.0.1", 65536).ok());
  EXPECT_FALSE(bt::Endpoint::Make("", 1).ok());
  EXPECT_FALSE(bt::Endpoint::Make("example.com", 1).ok());
  EXPECT_FALSE(bt::Endpoint::Make("10.0.0.1:80", 1).ok());
  EXPECT_FALSE(bt::Endpoint::Make(std::string("10.0.0.1\0x", 10), 1).ok());
  EXPECT_FALSE(bt::Endpoint::Make(std::string(1000, '1'), 1).ok());
}

// However a tracker or a worker writes one peer, the pool holds it once.
TEST(PeerPoolTest, OneEntryForEveryFormOfOnePeer) {
  PeerPool pool;
  EXPECT_EQ(pool.Add({P("10.0.0.1", 6881)}), 1u);
  EXPECT_EQ(pool.Add({P("::ffff:10.0.0.1", 6881), P("::FFFF:a00:1", 6881)}), 0u);
  EXPECT_EQ(pool.Add({P("2001:db8::1", 1)}), 1u);
  EXPECT_EQ(pool.Add({P("2001:DB8:0::0:1", 1)}), 0u);
  EXPECT_EQ(pool.known(), 2u);
}

TEST(PeerPoolTest, EachPeerGoesToOneWorkerAtATime) {
  PeerPool pool;
  EXPECT_EQ(pool.Add({P("10.0.0.1", 1), P("10.0.0.2", 2), P("10.0.0.3", 3)}), 3u);
  EXPECT_EQ(pool.Add({P("10.0.0.1", 1)}), 0u);  // already known
  EXPECT_THAT(Keys(pool.Take(1, 2, kT0)), ElementsAre("10.0.0.1:1", "10.0.0.2:2"));
  EXPECT_THAT(Keys(pool.Take(2, 5, kT0)), ElementsAre("10.0.0.3:3"));
  EXPECT_THAT(pool.Take(3, 5, kT0), IsEmpty());
  EXPECT_EQ(pool.assigned(), 3u);
  EXPECT_EQ(pool.known(), 3u);
  EXPECT_EQ(pool.assigned_to("10.0.0.1:1"), 1u);
  EXPECT_EQ(pool.assigned_to_worker(1), 2u);
  EXPECT_EQ(pool.state("10.0.0.3:3", kT0), PeerState::kAssigned);
  EXPECT_EQ(pool.state("10.9.9.9:3", kT0), PeerState::kUnknown);
}

// Workers on other hosts share a peer once the free ones are gone, the least shared first;
// workers on one host (or of unknown host) never do.
TEST(PeerPoolTest, WorkersOnOtherHostsShareAPeerOnceNoneIsFree) {
  PeerPool pool;
  pool.Add({P("10.0.0.1", 1), P("10.0.0.2", 2)});
  EXPECT_THAT(Keys(pool.Take(1, 1, kT0, {}, "10.9.0.1")), ElementsAre("10.0.0.1:1"));
  EXPECT_THAT(Keys(pool.Take(2, 1, kT0, {}, "10.9.0.2")), ElementsAre("10.0.0.2:2"))
      << "a free peer before a shared one";
  EXPECT_THAT(Keys(pool.Take(3, 1, kT0, {}, "10.9.0.3")), ElementsAre("10.0.0.1:1"));
  EXPECT_THAT(Keys(pool.Take(4, 1, kT0, {}, "10.9.0.4")), ElementsAre("10.0.0.2:2"))
      << "the least shared peer first";
  EXPECT_THAT(pool.Take(6, 1, kT0, {}, ""), IsEmpty()) << "a worker of unknown host";
  EXPECT_THAT(Keys(pool.Take(1, 5, kT0, {}, "10.9.0.1")), ElementsAre("10.0.0.2:2"))
      << "worker 1 may share the other peer, never its own again";
  EXPECT_THAT(pool.Take(5, 1, kT0, {}, "10.9.0.1"), IsEmpty())
      << "its host holds both peers already";
  EXPECT_EQ(pool.assigned(), 2u);
  EXPECT_EQ(pool.assigned_to_worker(1), 2u);

  // A holder's release backs the peer off for new takers; the other holder keeps it.
  EXPECT_TRUE(pool.Release(1, "10.0.0.1:1", kT0));
  EXPECT_FALSE(pool.Release(1, "10.0.0.1:1", kT0));
  EXPECT_EQ(pool.state("10.0.0.1:1", kT0), PeerState::kAssigned);
  EXPECT_EQ(pool.assigned_to("10.0.0.1:1"), 3u);
  EXPECT_THAT(pool.ReleaseWorker(3), ElementsAre("10.0.0.1:1"));
  EXPECT_EQ(pool.state("10.0.0.1:1", kT0), PeerState::kBackoff);
  EXPECT_EQ(pool.assigned(), 1u);
  pool.Ban("10.0.0.2:2");
  EXPECT_EQ(pool.assigned(), 0u);
  EXPECT_EQ(pool.assigned_to_worker(4), 0u);
}

// A worker of unknown host (beside the coordinator on a Unix socket) never shares.
TEST(PeerPoolTest, WorkersOfUnknownHostNeverShare) {
  PeerPool pool;
  pool.Add({P("10.0.0.1", 1)});
  EXPECT_THAT(Keys(pool.Take(1, 1, kT0)), ElementsAre("10.0.0.1:1"));
  EXPECT_THAT(pool.Take(2, 1, kT0, {}, "10.9.0.2"), IsEmpty());
}

TEST(PeerPoolTest, AvailableCountsWhatTakeCouldGive) {
  PeerPool pool;
  pool.Add({P("10.0.0.1", 1), P("10.0.0.2", 2), P("10.0.0.3", 3)});
  EXPECT_EQ(pool.available(kT0), 3u);
  ASSERT_EQ(pool.Take(1, 1, kT0).size(), 1u);
  pool.Ban("10.0.0.2:2");
  EXPECT_EQ(pool.available(kT0), 1u);
  ASSERT_TRUE(pool.Release(1, "10.0.0.1:1", kT0));  // backs off for 5 s
  EXPECT_EQ(pool.available(kT0), 1u);
  EXPECT_EQ(pool.available(kT0 + absl::Seconds(5)), 2u);
  EXPECT_EQ(pool.available(kT0 + absl::Seconds(5), {"10.0.0.3:3"}), 1u);  // as Take skips it
}

TEST(PeerPoolTest, ClosedPeerComesBackAfterADoublingBackoff) {
  PeerPool::Options o;
  o.base_backoff = absl::Seconds(5);
  o.max_backoff = absl::Seconds(12);
  PeerPool pool(o);
  pool.Add({P("10.0.0.1", 1)});
  const std::string key = "10.0.0.1:1";
  ASSERT_EQ(pool.Take(1, 1, kT0).size(), 1u);
  EXPECT_FALSE(pool.Release(2, key, kT0));  // not worker 2's
  ASSERT_TRUE(pool.Release(1, key, kT0));
  EXPECT_FALSE(pool.Release(1, key, kT0));  // twice
  EXPECT_EQ(pool.state(key, kT0), PeerState::kBackoff);
  EXPECT_THAT(pool.Take(2, 1, kT0 + absl::Seconds(4)), IsEmpty());
  ASSERT_EQ(pool.Take(2, 1, kT0 + absl::Seconds(5)).size(), 1u);
  // Second failure in a row: 10 s.
  const absl::Time t1 = kT0 + absl::Seconds(5);
  ASSERT_TRUE(pool.Release(2, key, t1));
  EXPECT_THAT(pool.Take(1, 1, t1 + absl::Seconds(9)), IsEmpty());
  ASSERT_EQ(pool.Take(1, 1, t1 + absl::Seconds(10)).size(), 1u);
  // Third: 20 s, capped at 12.
  const absl::Time t2 = t1 + absl::Seconds(10);
  ASSERT_TRUE(pool.Release(1, key, t2));
  EXPECT_EQ(pool.state(key, t2 + absl::Seconds(11)), PeerState::kBackoff);
  EXPECT_EQ(pool.state(key, t2 + absl::Seconds(12)), PeerState::kKnown);
  // A connection that got as far as a bitfield resets the count: 5 s again.
  const absl::Time t3 = t2 + absl::Seconds(12);
  ASSERT_EQ(pool.Take(1, 1, t3).size(), 1u);
  pool.MarkConnected(key);
  ASSERT_TRUE(pool.Release(1, key, t3));
  EXPECT_EQ(pool.state(key, t3 + absl::Seconds(5)), PeerState::kKnown);
}

TEST(PeerPoolTest, PrefersPeersWithFewerFailures) {
  PeerPool pool;
  pool.Add({P("10.0.0.1", 1), P("10.0.0.2", 2)});
  ASSERT_EQ(pool.Take(1, 1, kT0).size(), 1u);  // 10.0.0.1
  ASSERT_TRUE(pool.Release(1, "10.0.0.1:1", kT0));
  EXPECT_THAT(Keys(pool.Take(1, 2, kT0 + absl::Minutes(1))),
              ElementsAre("10.0.0.2:2", "10.0.0.1:1"));
}

TEST(PeerPoolTest, BannedPeersAreNeverGivenAgain) {
  PeerPool pool;
  pool.Add({P("10.0.0.1", 1), P("10.0.0.2", 2)});
  ASSERT_EQ(pool.Take(1, 2, kT0).size(), 2u);
  pool.Ban("10.0.0.1:1");
  EXPECT_EQ(pool.state("10.0.0.1:1", kT0), PeerState::kBanned);
  EXPECT_EQ(pool.assigned(), 1u);
  EXPECT_EQ(pool.known(), 1u);
  EXPECT_FALSE(pool.Release(1, "10.0.0.1:1", kT0));
  EXPECT_EQ(pool.Add({P("10.0.0.1", 1)}), 0u);  // a tracker cannot bring it back
  pool.ReleaseWorker(1);
  EXPECT_THAT(Keys(pool.Take(2, 5, kT0 + absl::Hours(1))), ElementsAre("10.0.0.2:2"));
  // Banned before it was ever seen: stays banned when a tracker names it later.
  pool.Ban("10.0.0.9:9");
  EXPECT_EQ(pool.Add({P("10.0.0.9", 9)}), 0u);
  EXPECT_EQ(pool.state("10.0.0.9:9", kT0), PeerState::kBanned);
}

TEST(PeerPoolTest, BansAPeerAtTheThirdBadPiece) {
  PeerPool pool;
  EXPECT_FALSE(pool.RecordBadPiece("1.2.3.4:5"));
  EXPECT_FALSE(pool.RecordBadPiece("1.2.3.4:5"));
  EXPECT_FALSE(pool.IsBanned("1.2.3.4:5"));
  EXPECT_TRUE(pool.RecordBadPiece("1.2.3.4:5"));
  EXPECT_TRUE(pool.IsBanned("1.2.3.4:5"));
  EXPECT_FALSE(pool.RecordBadPiece("1.2.3.4:5"));  // reported once only
  EXPECT_EQ(pool.bad_pieces("1.2.3.4:5"), 4);
  EXPECT_TRUE(pool.IsBanned("1.2.3.4:6"));  // the address is banned, whatever the port
  EXPECT_FALSE(pool.IsBanned("1.2.3.5:5"));
  // The ban is the pool's own: never given out, never brought back by a tracker.
  EXPECT_EQ(pool.state("1.2.3.4:5", kT0), PeerState::kBanned);
  EXPECT_EQ(pool.Add({P("1.2.3.4", 5)}), 0u);
}

// A peer that dialled in has a new port each time; bans and bad pieces go by its address.
TEST(PeerPoolTest, BansAndBadPiecesGoByAddressWhateverThePort) {
  PeerPool pool;
  pool.Add({P("10.0.0.1", 1), P("10.0.0.1", 2), P("10.0.0.2", 1)});
  ASSERT_EQ(pool.Take(1, 3, kT0).size(), 3u);
  EXPECT_FALSE(pool.RecordBadPiece("10.0.0.1:50001"));
  EXPECT_FALSE(pool.RecordBadPiece("10.0.0.1:50002"));
  EXPECT_TRUE(pool.RecordBadPiece("10.0.0.1:50003"));  // third from that address
  for (const char* key : {"10.0.0.1:1", "10.0.0.1:2", "10.0.0.1:50003", "10.0.0.1:7"}) {
    EXPECT_TRUE(pool.IsBanned(key)) << key;
  }
  EXPECT_EQ(pool.state("10.0.0.1:2", kT0), PeerState::kBanned);
  EXPECT_EQ(pool.assigned(), 1u);               // only 10.0.0.2:1 is still held
  EXPECT_EQ(pool.Add({P("10.0.0.1", 3)}), 0u);  // no other port of it from a tracker
  pool.ReleaseWorker(1);
  EXPECT_THAT(Keys(pool.Take(2, 5, kT0 + absl::Hours(1))), ElementsAre("10.0.0.2:1"));
  // A ban that is not for misbehaving (ourselves, another torrent) is for that port only.
  pool.Ban("10.0.0.2:1");
  EXPECT_FALSE(pool.IsBanned("10.0.0.2:2"));
  EXPECT_EQ(pool.Add({P("10.0.0.2", 2)}), 1u);
}

TEST(PeerPoolTest, BadPiecesBelowTheLimitLeaveThePeerAsItWas) {
  PeerPool pool;
  pool.Add({P("10.0.0.1", 1)});
  EXPECT_FALSE(pool.RecordBadPiece("10.0.0.1:1"));
  EXPECT_FALSE(pool.RecordBadPiece("10.0.0.9:9"));  // not from a tracker: counted, not added
  EXPECT_EQ(pool.state("10.0.0.1:1", kT0), PeerState::kKnown);
  EXPECT_EQ(pool.state("10.0.0.9:9", kT0), PeerState::kUnknown);
  EXPECT_EQ(pool.bad_pieces("10.0.0.9:9"), 1);
  EXPECT_THAT(Keys(pool.Take(1, 5, kT0)), ElementsAre("10.0.0.1:1"));
  // Banned otherwise (PeerClosed.banned): IsBanned says so too.
  pool.Ban("10.0.0.1:1");
  EXPECT_TRUE(pool.IsBanned("10.0.0.1:1"));
  EXPECT_EQ(pool.bad_pieces("10.0.0.1:1"), 1);
}

TEST(PeerPoolTest, DeadWorkersPeersComeBackAtOnce) {
  PeerPool pool;
  pool.Add({P("10.0.0.1", 1), P("10.0.0.2", 2), P("10.0.0.3", 3)});
  ASSERT_EQ(pool.Take(1, 2, kT0).size(), 2u);
  ASSERT_EQ(pool.Take(2, 2, kT0).size(), 1u);
  EXPECT_THAT(pool.ReleaseWorker(1), ElementsAre("10.0.0.1:1", "10.0.0.2:2"));
  EXPECT_EQ(pool.assigned(), 1u);
  EXPECT_EQ(pool.Take(3, 5, kT0).size(), 2u);
  EXPECT_THAT(pool.ReleaseWorker(0), IsEmpty());
}

TEST(PeerPoolTest, ExcludesTheWorkersOwnAddressAndCapsSize) {
  PeerPool::Options o;
  o.max_peers = 2;
  PeerPool pool(o);
  EXPECT_EQ(pool.Add({P("127.0.0.1", 7000), P("127.0.0.1", 7001), P("127.0.0.1", 7002)}), 2u);
  EXPECT_THAT(Keys(pool.Take(1, 5, kT0, {"127.0.0.1:7000"})), ElementsAre("127.0.0.1:7001"));
  EXPECT_THAT(pool.Take(0, 5, kT0), IsEmpty());  // worker 0 does not exist
  EXPECT_THAT(pool.Take(2, 0, kT0), IsEmpty());
}

// A tracker that fills the pool with dead addresses cannot keep out the live ones another
// tracker gives later: those take the places of peers that were tried and failed.
TEST(PeerPoolTest, WhenFullNewPeersReplaceFailedOnes) {
  PeerPool::Options o;
  o.max_peers = 3;
  PeerPool pool(o);
  ASSERT_EQ(pool.Add({P("10.0.0.1", 1), P("10.0.0.2", 1), P("10.0.0.3", 1)}), 3u);
  EXPECT_EQ(pool.Add({P("10.9.9.9", 9)}), 0u);      // nobody failed yet: dropped
  ASSERT_EQ(pool.Take(1, 2, kT0).size(), 2u);       // 10.0.0.1 and .2
  ASSERT_TRUE(pool.Release(1, "10.0.0.1:1", kT0));  // .1 failed; .2 is still held
  EXPECT_EQ(pool.Add({P("10.9.9.9", 9), P("10.8.8.8", 8)}), 1u);
  EXPECT_EQ(pool.state("10.0.0.1:1", kT0), PeerState::kUnknown);
  EXPECT_EQ(pool.state("10.9.9.9:9", kT0), PeerState::kKnown);
  EXPECT_EQ(pool.state("10.0.0.2:1", kT0), PeerState::kAssigned);
  EXPECT_EQ(pool.known(), 3u);
}

}  // namespace
}  // namespace swarm::coordinator
