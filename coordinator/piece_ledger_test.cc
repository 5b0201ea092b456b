#include "coordinator/piece_ledger.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

const absl::Time kT0 = absl::FromUnixSeconds(1000);

bt::PieceLayout Layout(uint32_t pieces, uint32_t piece_length = 100, uint32_t last = 100) {
  return *bt::PieceLayout::Create(uint64_t{pieces - 1} * piece_length + last, piece_length);
}

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

std::vector<uint32_t> Pieces(const std::vector<LeaseGrant>& grants) {
  std::vector<uint32_t> out;
  for (const LeaseGrant& g : grants) out.push_back(g.piece);
  return out;
}

PieceLedger::Options Opts(uint64_t seed = 1) {
  PieceLedger::Options o;
  o.lease_ttl = absl::Seconds(10);
  o.seed = seed;
  return o;
}

TEST(PieceLedgerTest, StartsAllNeeded) {
  PieceLedger ledger(Layout(10, 100, 30), Opts());
  EXPECT_EQ(ledger.num_pieces(), 10u);
  EXPECT_EQ(ledger.needed_pieces(), 10u);
  EXPECT_EQ(ledger.leased_pieces(), 0u);
  EXPECT_EQ(ledger.verified_pieces(), 0u);
  EXPECT_EQ(ledger.missing_bytes(), 930u);
  EXPECT_FALSE(ledger.complete());
  EXPECT_FALSE(ledger.in_endgame());
  EXPECT_EQ(ledger.state(3), PieceState::kNeeded);
}

TEST(PieceLedgerTest, MarkVerifiedCountsBytesAndRejectsTwice) {
  PieceLedger ledger(Layout(3, 100, 30), Opts());
  ASSERT_TRUE(ledger.MarkVerified(2).ok());
  EXPECT_EQ(ledger.verified_bytes(), 30u);
  EXPECT_EQ(ledger.state(2), PieceState::kVerified);
  EXPECT_EQ(ledger.MarkVerified(2).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ledger.MarkVerified(3).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(ledger.MarkVerified(0).ok());
  ASSERT_TRUE(ledger.MarkVerified(1).ok());
  EXPECT_TRUE(ledger.complete());
  EXPECT_EQ(ledger.missing_bytes(), 0u);
}

TEST(PieceLedgerTest, VerifiedBitfieldHasResumedAndDonePiecesOnly) {
  PieceLedger ledger(Layout(70, 100, 30), Opts());
  EXPECT_TRUE(ledger.VerifiedBitfield().None());
  ASSERT_TRUE(ledger.MarkVerified(0).ok());
  ASSERT_TRUE(ledger.MarkVerified(69).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield("a", All(70)).ok());
  ASSERT_EQ(ledger.Grant(3, {"a"}, 2, kT0).size(), 2u);  // leased: not verified
  const std::vector<uint32_t> leased = ledger.LeasesOf(3);
  ASSERT_TRUE(ledger.PieceDone(3, leased[0]).ok());
  const bt::Bitfield verified = ledger.VerifiedBitfield();
  EXPECT_EQ(verified.size(), 70u);
  EXPECT_EQ(verified.Count(), 3u);
  EXPECT_TRUE(verified.Get(0));
  EXPECT_TRUE(verified.Get(69));
  EXPECT_TRUE(verified.Get(leased[0]));
  EXPECT_FALSE(verified.Get(leased[1]));
}

TEST(PieceLedgerTest, AvailabilityFromBitfieldsHavesAndRemoval) {
  PieceLedger ledger(Layout(10), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("a", Have(10, {0, 1, 2})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield("b", Have(10, {1, 2})).ok());
  ASSERT_TRUE(ledger.AddPeerHave("c", 2).ok());  // a have with no bitfield first
  EXPECT_EQ(ledger.availability(0), 1u);
  EXPECT_EQ(ledger.availability(1), 2u);
  EXPECT_EQ(ledger.availability(2), 3u);
  EXPECT_EQ(ledger.availability(3), 0u);
  ASSERT_TRUE(ledger.AddPeerHave("b", 2).ok());  // already had it: no double count
  EXPECT_EQ(ledger.availability(2), 3u);
  ASSERT_TRUE(ledger.AddPeerHave("b", 9).ok());
  EXPECT_EQ(ledger.availability(9), 1u);

  // A new bitfield for a known peer replaces its old one.
  ASSERT_TRUE(ledger.SetPeerBitfield("a", Have(10, {5})).ok());
  EXPECT_EQ(ledger.availability(0), 0u);
  EXPECT_EQ(ledger.availability(5), 1u);

  ledger.RemovePeer("b");
  EXPECT_EQ(ledger.availability(1), 0u);
  EXPECT_EQ(ledger.availability(2), 1u);
  EXPECT_EQ(ledger.availability(9), 0u);
  ledger.RemovePeer("nobody");  // ignored
  EXPECT_EQ(ledger.num_peers(), 2u);
}

TEST(PieceLedgerTest, HostileAvailabilityInputIsRejected) {
  PieceLedger::Options o = Opts();
  o.max_peers = 2;
  PieceLedger ledger(Layout(10), o);
  EXPECT_EQ(ledger.SetPeerBitfield("a", Have(11, {})).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.AddPeerHave("a", 10).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.AddPeerHave("a", 0xFFFFFFFFu).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ledger.HasPeer("a"));
  ASSERT_TRUE(ledger.SetPeerBitfield("a", All(10)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield("b", All(10)).ok());
  EXPECT_EQ(ledger.SetPeerBitfield("c", All(10)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ledger.AddPeerHave("c", 1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ledger.availability(1), 2u);
  EXPECT_EQ(ledger.availability(12345), 0u);
}

TEST(PieceLedgerTest, GrantsRarestFirst) {
  PieceLedger ledger(Layout(6), Opts());
  // Availability: piece 0: 3, 1: 2, 2: 1, 3: 3, 4: 0, 5: 2.
  ASSERT_TRUE(ledger.SetPeerBitfield("a", Have(6, {0, 1, 2, 3, 5})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield("b", Have(6, {0, 1, 3, 5})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield("c", Have(6, {0, 3})).ok());
  const std::vector<std::string> peers = {"a", "b", "c"};
  EXPECT_THAT(Pieces(ledger.Grant(1, peers, 1, kT0)), ElementsAre(2));
  const std::vector<uint32_t> next = Pieces(ledger.Grant(1, peers, 2, kT0));
  EXPECT_THAT(next, UnorderedElementsAre(1, 5));
  EXPECT_THAT(Pieces(ledger.Grant(1, peers, 10, kT0)), UnorderedElementsAre(0, 3));
  // Piece 4: no peer has it, so nobody can be given it.
  EXPECT_EQ(ledger.state(4), PieceState::kNeeded);
  EXPECT_EQ(ledger.needed_pieces(), 1u);
  EXPECT_EQ(ledger.leased_pieces(), 5u);
  EXPECT_THAT(ledger.LeasesOf(1), ElementsAre(0, 1, 2, 3, 5));
}

TEST(PieceLedgerTest, GrantsOnlyWhatTheWorkersPeersHave) {
  PieceLedger ledger(Layout(8), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("1/x", Have(8, {0, 1})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield("2/y", Have(8, {6, 7})).ok());
  const std::vector<std::string> mine = {"1/x", "1/unknown"};
  EXPECT_THAT(Pieces(ledger.Grant(1, mine, 10, kT0)), UnorderedElementsAre(0, 1));
  EXPECT_THAT(ledger.Grant(1, mine, 10, kT0), IsEmpty());
  const std::vector<std::string> none;
  EXPECT_THAT(ledger.Grant(2, none, 10, kT0), IsEmpty());
  EXPECT_THAT(ledger.Grant(2, {"2/y"}, 0, kT0), IsEmpty());
}

TEST(PieceLedgerTest, EquallyRarePiecesComeInRandomOrder) {
  // Two ledgers with different seeds, many equally rare pieces: the first grants differ, so
  // two workers asking at once do not start on the same pieces.
  std::set<std::vector<uint32_t>> firsts;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    PieceLedger ledger(Layout(64), Opts(seed));
    ASSERT_TRUE(ledger.SetPeerBitfield("a", All(64)).ok());
    firsts.insert(Pieces(ledger.Grant(1, {"a"}, 4, kT0)));
  }
  EXPECT_GT(firsts.size(), 1u);

  // One ledger, two workers on the same seeder: disjoint leases.
  PieceLedger ledger(Layout(64), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("1/s", All(64)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield("2/s", All(64)).ok());
  std::vector<uint32_t> a = Pieces(ledger.Grant(1, {"1/s"}, 10, kT0));
  std::vector<uint32_t> b = Pieces(ledger.Grant(2, {"2/s"}, 10, kT0));
  std::set<uint32_t> both(a.begin(), a.end());
  both.insert(b.begin(), b.end());
  EXPECT_EQ(both.size(), 20u);
}

TEST(PieceLedgerTest, LeaseExpiresUnlessRenewedByProgress) {
  PieceLedger ledger(Layout(2), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("a", All(2)).ok());
  ASSERT_THAT(Pieces(ledger.Grant(7, {"a"}, 2, kT0)), UnorderedElementsAre(0, 1));

  // Progress on piece 0 at t0+5 moves its deadline to t0+15; piece 1 stays at t0+10.
  ASSERT_TRUE(ledger.Renew(7, 0, 16384, kT0 + absl::Seconds(5)).ok());
  // The same byte count again is no progress: no renewal.
  ASSERT_TRUE(ledger.Renew(7, 1, 0, kT0 + absl::Seconds(5)).ok());
  EXPECT_THAT(ledger.ExpireLeases(kT0 + absl::Seconds(9)), IsEmpty());
  EXPECT_THAT(ledger.ExpireLeases(kT0 + absl::Seconds(10)), ElementsAre(ExpiredLease{7, 1}));
  EXPECT_EQ(ledger.state(1), PieceState::kNeeded);
  EXPECT_EQ(ledger.state(0), PieceState::kLeased);
  ASSERT_TRUE(ledger.Renew(7, 0, 16384, kT0 + absl::Seconds(14)).ok());  // no progress
  EXPECT_THAT(ledger.ExpireLeases(kT0 + absl::Seconds(15)), ElementsAre(ExpiredLease{7, 0}));
  EXPECT_EQ(ledger.needed_pieces(), 2u);
  EXPECT_THAT(ledger.LeasesOf(7), IsEmpty());

  // Renewing or finishing a lapsed lease is refused.
  EXPECT_EQ(ledger.Renew(7, 0, 99999, kT0 + absl::Seconds(16)).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger.PieceDone(7, 0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ledger.verified_pieces(), 0u);
}

TEST(PieceLedgerTest, PieceDoneVerifiesAndCompletes) {
  PieceLedger ledger(Layout(2, 100, 50), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("a", All(2)).ok());
  ASSERT_EQ(ledger.Grant(3, {"a"}, 2, kT0).size(), 2u);
  absl::StatusOr<std::vector<WorkerId>> losers = ledger.PieceDone(3, 1);
  ASSERT_TRUE(losers.ok());
  EXPECT_THAT(*losers, IsEmpty());
  EXPECT_EQ(ledger.verified_bytes(), 50u);
  EXPECT_EQ(ledger.PieceDone(3, 1).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ledger.PieceDone(3, 0).ok());
  EXPECT_TRUE(ledger.complete());
  EXPECT_THAT(ledger.Grant(3, {"a"}, 2, kT0), IsEmpty());
  EXPECT_THAT(ledger.ExpireLeases(kT0 + absl::Hours(1)), IsEmpty());
}

TEST(PieceLedgerTest, WorkerDeathFreesAllItsLeases) {
  PieceLedger ledger(Layout(4), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("a", All(4)).ok());
  ASSERT_EQ(ledger.Grant(1, {"a"}, 3, kT0).size(), 3u);
  ASSERT_EQ(ledger.Grant(2, {"a"}, 1, kT0).size(), 1u);
  const std::vector<uint32_t> freed = ledger.ReleaseWorker(1);
  EXPECT_EQ(freed.size(), 3u);
  EXPECT_EQ(ledger.needed_pieces(), 3u);
  EXPECT_THAT(ledger.LeasesOf(1), IsEmpty());
  EXPECT_EQ(ledger.LeasesOf(2).size(), 1u);
  EXPECT_THAT(ledger.ReleaseWorker(1), IsEmpty());   // twice: nothing
  EXPECT_THAT(ledger.ReleaseWorker(99), IsEmpty());  // never seen
  // Worker 2 can now take what worker 1 held.
  EXPECT_EQ(Pieces(ledger.Grant(2, {"a"}, 10, kT0)).size(), 3u);
}

TEST(PieceLedgerTest, PieceFailedReturnsThePieceAndCountsHashFailures) {
  PieceLedger ledger(Layout(3), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("a", All(3)).ok());
  ASSERT_EQ(ledger.Grant(1, {"a"}, 3, kT0).size(), 3u);
  ASSERT_TRUE(ledger.PieceFailed(1, 0, FailReason::kHashMismatch).ok());
  ASSERT_TRUE(ledger.PieceFailed(1, 1, FailReason::kAbandoned).ok());
  ASSERT_TRUE(ledger.PieceFailed(1, 2, FailReason::kWriteError).ok());
  EXPECT_EQ(ledger.hash_failures(), 1u);
  EXPECT_EQ(ledger.needed_pieces(), 3u);
  // Not a holder (any more): refused, and not counted.
  EXPECT_EQ(ledger.PieceFailed(1, 0, FailReason::kHashMismatch).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger.PieceFailed(2, 0, FailReason::kHashMismatch).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger.hash_failures(), 1u);
}

TEST(PieceLedgerTest, EndgameDuplicatesAndFirstDoneRevokesTheOthers) {
  PieceLedger::Options o = Opts();
  o.max_endgame_holders = 3;
  PieceLedger ledger(Layout(3), o);
  for (const char* p : {"1/s", "2/s", "3/s", "4/s"})
    ASSERT_TRUE(ledger.SetPeerBitfield(p, All(3)).ok());
  ASSERT_EQ(ledger.Grant(1, {"1/s"}, 2, kT0).size(), 2u);
  EXPECT_FALSE(ledger.in_endgame());
  // Worker 2 gets the last needed piece; nothing is NEEDED any more.
  std::vector<LeaseGrant> g2 = ledger.Grant(2, {"2/s"}, 1, kT0);
  ASSERT_EQ(g2.size(), 1u);
  EXPECT_FALSE(g2[0].endgame);
  EXPECT_TRUE(ledger.in_endgame());

  // Worker 3 asks for more: it gets the leased pieces again, marked endgame.
  std::vector<LeaseGrant> g3 = ledger.Grant(3, {"3/s"}, 5, kT0);
  ASSERT_EQ(g3.size(), 3u);
  for (const LeaseGrant& g : g3) EXPECT_TRUE(g.endgame);
  // Worker 1 gets only the piece it does not hold yet.
  std::vector<LeaseGrant> g1 = ledger.Grant(1, {"1/s"}, 5, kT0);
  ASSERT_EQ(g1.size(), 1u);
  EXPECT_EQ(g1[0].piece, g2[0].piece);
  EXPECT_TRUE(g1[0].endgame);
  // Worker 1's two pieces have 2 holders, the last piece 3 (the cap): worker 4 gets the two.
  EXPECT_EQ(ledger.Grant(4, {"4/s"}, 5, kT0).size(), 2u);
  // The cap is reached: nobody else gets anything.
  EXPECT_THAT(ledger.Grant(5, {"4/s"}, 5, kT0), IsEmpty());
  EXPECT_EQ(ledger.holders(g2[0].piece).size(), 3u);

  // First done wins; the other holders must be revoked.
  absl::StatusOr<std::vector<WorkerId>> losers = ledger.PieceDone(3, g2[0].piece);
  ASSERT_TRUE(losers.ok());
  EXPECT_THAT(*losers, UnorderedElementsAre(2, 1));
  EXPECT_EQ(ledger.state(g2[0].piece), PieceState::kVerified);
  // The losers' late PieceDone is refused and changes nothing.
  EXPECT_EQ(ledger.PieceDone(2, g2[0].piece).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ledger.verified_pieces(), 1u);
  EXPECT_THAT(ledger.LeasesOf(2), IsEmpty());
}

TEST(PieceLedgerTest, EndgameHolderFailingKeepsThePieceLeased) {
  PieceLedger ledger(Layout(1), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("s", All(1)).ok());
  ASSERT_EQ(ledger.Grant(1, {"s"}, 1, kT0).size(), 1u);
  ASSERT_EQ(ledger.Grant(2, {"s"}, 1, kT0).size(), 1u);
  ASSERT_TRUE(ledger.PieceFailed(1, 0, FailReason::kAbandoned).ok());
  EXPECT_EQ(ledger.state(0), PieceState::kLeased);
  ASSERT_EQ(ledger.holders(0).size(), 1u);
  EXPECT_EQ(ledger.holders(0)[0].worker, 2u);
  // The other one's lease lapses too: NEEDED again, and not endgame any more.
  EXPECT_EQ(ledger.ExpireLeases(kT0 + absl::Seconds(10)).size(), 1u);
  EXPECT_EQ(ledger.state(0), PieceState::kNeeded);
  EXPECT_FALSE(ledger.in_endgame());
  std::vector<LeaseGrant> again = ledger.Grant(1, {"s"}, 1, kT0);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(again[0].endgame);
}

TEST(PieceLedgerTest, EndgameDefaultsToTwoHoldersAndWorkerDeathDropsOneHolder) {
  PieceLedger ledger(Layout(1), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("s", All(1)).ok());
  ASSERT_EQ(ledger.Grant(1, {"s"}, 1, kT0).size(), 1u);
  ASSERT_EQ(ledger.Grant(2, {"s"}, 1, kT0).size(), 1u);
  EXPECT_THAT(ledger.Grant(3, {"s"}, 1, kT0), IsEmpty());
  EXPECT_THAT(ledger.ReleaseWorker(1), ElementsAre(0));
  EXPECT_EQ(ledger.state(0), PieceState::kLeased);
  ASSERT_TRUE(ledger.PieceDone(2, 0).ok());
  EXPECT_TRUE(ledger.complete());
}

TEST(PieceLedgerTest, HostileLeaseInputNeverCrashes) {
  PieceLedger ledger(Layout(4), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield("a", All(4)).ok());
  EXPECT_EQ(ledger.PieceDone(1, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.PieceDone(1, 0xFFFFFFFFu).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.PieceDone(1, 0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ledger.PieceFailed(1, 99, FailReason::kHashMismatch).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger.Renew(1, 99, 5, kT0).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger.state(99), PieceState::kNeeded);
  EXPECT_THAT(ledger.holders(99), IsEmpty());
  // Worker id 0 is never a real worker.
  EXPECT_THAT(ledger.Grant(0, {"a"}, 4, kT0), IsEmpty());
  // A PieceDone from a worker that holds a different piece.
  ASSERT_EQ(ledger.Grant(1, {"a"}, 1, kT0).size(), 1u);
  const uint32_t mine = ledger.LeasesOf(1)[0];
  const uint32_t other = (mine + 1) % 4;
  EXPECT_EQ(ledger.PieceDone(1, other).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ledger.PieceDone(2, mine).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ledger.verified_pieces(), 0u);
  EXPECT_EQ(ledger.state(mine), PieceState::kLeased);
}

TEST(PieceLedgerTest, LargeTorrentGrantIsRarestFirstAcrossWords) {
  // 1000 pieces: piece 777 is the only one with availability 1.
  PieceLedger ledger(Layout(1000), Opts());
  bt::Bitfield most = All(1000);
  most.Clear(777);
  ASSERT_TRUE(ledger.SetPeerBitfield("a", All(1000)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield("b", most).ok());
  EXPECT_THAT(Pieces(ledger.Grant(1, {"a", "b"}, 1, kT0)), ElementsAre(777));
  EXPECT_EQ(ledger.Grant(1, {"b"}, 2000, kT0).size(), 999u);
  EXPECT_EQ(ledger.needed_pieces(), 0u);
}

}  // namespace
}  // namespace swarm::coordinator
