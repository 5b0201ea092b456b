#include "coordinator/piece_ledger.h"

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::IsSubsetOf;
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
  ASSERT_TRUE(ledger.SetPeerBitfield(3, "a", All(70)).ok());
  ASSERT_EQ(ledger.Grant(3, 2, kT0).size(), 2u);  // leased: not verified
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
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", Have(10, {0, 1, 2})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "b", Have(10, {1, 2})).ok());
  ASSERT_TRUE(ledger.AddPeerHave(2, "c", 2).ok());  // a have with no bitfield first
  EXPECT_EQ(ledger.availability(0), 1u);
  EXPECT_EQ(ledger.availability(1), 2u);
  EXPECT_EQ(ledger.availability(2), 3u);
  EXPECT_EQ(ledger.availability(3), 0u);
  ASSERT_TRUE(ledger.AddPeerHave(1, "b", 2).ok());  // already had it: no double count
  EXPECT_EQ(ledger.availability(2), 3u);
  ASSERT_TRUE(ledger.AddPeerHave(1, "b", 9).ok());
  EXPECT_EQ(ledger.availability(9), 1u);

  // A new bitfield for a known peer replaces its old one.
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", Have(10, {5})).ok());
  EXPECT_EQ(ledger.availability(0), 0u);
  EXPECT_EQ(ledger.availability(5), 1u);

  ledger.RemovePeer(1, "b");
  EXPECT_EQ(ledger.availability(1), 0u);
  EXPECT_EQ(ledger.availability(2), 1u);
  EXPECT_EQ(ledger.availability(9), 0u);
  ledger.RemovePeer(1, "nobody");  // ignored
  ledger.RemovePeer(2, "a");       // another worker's peer "a": ignored
  ledger.RemovePeer(99, "a");      // unknown worker: ignored
  EXPECT_EQ(ledger.num_peers(), 2u);
  EXPECT_TRUE(ledger.HasPeer(1, "a"));
  EXPECT_FALSE(ledger.HasPeer(2, "a"));
  EXPECT_FALSE(ledger.HasPeer(1, "b"));
  EXPECT_TRUE(ledger.HasPeer(2, "c"));
}

TEST(PieceLedgerTest, HostileAvailabilityInputIsRejected) {
  PieceLedger::Options o = Opts();
  o.max_peers = 2;
  PieceLedger ledger(Layout(10), o);
  EXPECT_EQ(ledger.SetPeerBitfield(1, "a", Have(11, {})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.AddPeerHave(1, "a", 10).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.AddPeerHave(1, "a", 0xFFFFFFFFu).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ledger.HasPeer(1, "a"));
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", All(10)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "b", All(10)).ok());
  // The cap counts peers of every worker.
  EXPECT_EQ(ledger.SetPeerBitfield(3, "c", All(10)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ledger.AddPeerHave(1, "c", 1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(ledger.HasPeer(3, "c"));
  EXPECT_FALSE(ledger.HasPeer(1, "c"));
  // A known peer may still replace its bitfield at the cap.
  EXPECT_TRUE(ledger.SetPeerBitfield(1, "a", All(10)).ok());
  EXPECT_EQ(ledger.availability(1), 2u);
  EXPECT_EQ(ledger.availability(12345), 0u);
}

TEST(PieceLedgerTest, GrantsRarestFirst) {
  PieceLedger ledger(Layout(6), Opts());
  // Availability: piece 0: 3, 1: 2, 2: 1, 3: 3, 4: 0, 5: 2.
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", Have(6, {0, 1, 2, 3, 5})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "b", Have(6, {0, 1, 3, 5})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "c", Have(6, {0, 3})).ok());
  EXPECT_THAT(Pieces(ledger.Grant(1, 1, kT0)), ElementsAre(2));
  const std::vector<uint32_t> next = Pieces(ledger.Grant(1, 2, kT0));
  EXPECT_THAT(next, UnorderedElementsAre(1, 5));
  EXPECT_THAT(Pieces(ledger.Grant(1, 10, kT0)), UnorderedElementsAre(0, 3));
  // Piece 4: no peer has it, so nobody can be given it.
  EXPECT_EQ(ledger.state(4), PieceState::kNeeded);
  EXPECT_EQ(ledger.needed_pieces(), 1u);
  EXPECT_EQ(ledger.leased_pieces(), 5u);
  EXPECT_THAT(ledger.LeasesOf(1), ElementsAre(0, 1, 2, 3, 5));
}

TEST(PieceLedgerTest, GrantsOnlyWhatTheWorkersPeersHave) {
  PieceLedger ledger(Layout(8), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "x", Have(8, {0, 1})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "y", Have(8, {6, 7})).ok());
  EXPECT_THAT(Pieces(ledger.Grant(1, 10, kT0)), UnorderedElementsAre(0, 1));
  EXPECT_THAT(ledger.Grant(1, 10, kT0), IsEmpty());
  EXPECT_THAT(ledger.Grant(3, 10, kT0), IsEmpty());  // a worker with no peers
  EXPECT_THAT(ledger.Grant(2, 0, kT0), IsEmpty());
}

TEST(PieceLedgerTest, EquallyRarePiecesComeInRandomOrder) {
  // Two ledgers with different seeds, many equally rare pieces: the first grants differ, so
  // two workers asking at once do not start on the same pieces.
  std::set<std::vector<uint32_t>> firsts;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    PieceLedger ledger(Layout(64), Opts(seed));
    ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", All(64)).ok());
    firsts.insert(Pieces(ledger.Grant(1, 4, kT0)));
  }
  EXPECT_GT(firsts.size(), 1u);

  // One ledger, two workers on the same seeder: disjoint leases.
  PieceLedger ledger(Layout(64), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "s", All(64)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "s", All(64)).ok());
  std::vector<uint32_t> a = Pieces(ledger.Grant(1, 10, kT0));
  std::vector<uint32_t> b = Pieces(ledger.Grant(2, 10, kT0));
  std::set<uint32_t> both(a.begin(), a.end());
  both.insert(b.begin(), b.end());
  EXPECT_EQ(both.size(), 20u);
}

TEST(PieceLedgerTest, LeaseExpiresUnlessRenewedByProgress) {
  PieceLedger ledger(Layout(2), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield(7, "a", All(2)).ok());
  ASSERT_THAT(Pieces(ledger.Grant(7, 2, kT0)), UnorderedElementsAre(0, 1));

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
  ASSERT_TRUE(ledger.SetPeerBitfield(3, "a", All(2)).ok());
  ASSERT_EQ(ledger.Grant(3, 2, kT0).size(), 2u);
  absl::StatusOr<std::vector<WorkerId>> losers = ledger.PieceDone(3, 1);
  ASSERT_TRUE(losers.ok());
  EXPECT_THAT(*losers, IsEmpty());
  EXPECT_EQ(ledger.verified_bytes(), 50u);
  EXPECT_EQ(ledger.PieceDone(3, 1).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ledger.PieceDone(3, 0).ok());
  EXPECT_TRUE(ledger.complete());
  EXPECT_THAT(ledger.Grant(3, 2, kT0), IsEmpty());
  EXPECT_THAT(ledger.ExpireLeases(kT0 + absl::Hours(1)), IsEmpty());
}

TEST(PieceLedgerTest, WorkerDeathFreesAllItsLeases) {
  PieceLedger ledger(Layout(4), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", All(4)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "a", All(4)).ok());
  ASSERT_EQ(ledger.Grant(1, 3, kT0).size(), 3u);
  ASSERT_EQ(ledger.Grant(2, 1, kT0).size(), 1u);
  const std::vector<uint32_t> freed = ledger.ReleaseWorker(1);
  EXPECT_EQ(freed.size(), 3u);
  EXPECT_EQ(ledger.needed_pieces(), 3u);
  EXPECT_THAT(ledger.LeasesOf(1), IsEmpty());
  EXPECT_EQ(ledger.LeasesOf(2).size(), 1u);
  EXPECT_THAT(ledger.ReleaseWorker(1), IsEmpty());   // twice: nothing
  EXPECT_THAT(ledger.ReleaseWorker(99), IsEmpty());  // never seen
  // Worker 2 can now take what worker 1 held.
  EXPECT_EQ(Pieces(ledger.Grant(2, 10, kT0)).size(), 3u);
}

TEST(PieceLedgerTest, PieceFailedReturnsThePieceAndCountsHashFailures) {
  PieceLedger ledger(Layout(3), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", All(3)).ok());
  ASSERT_EQ(ledger.Grant(1, 3, kT0).size(), 3u);
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
  for (WorkerId w : {1, 2, 3, 4}) ASSERT_TRUE(ledger.SetPeerBitfield(w, "s", All(3)).ok());
  ASSERT_EQ(ledger.Grant(1, 2, kT0).size(), 2u);
  EXPECT_FALSE(ledger.in_endgame());
  // Worker 2 gets the last needed piece; nothing is NEEDED any more.
  std::vector<LeaseGrant> g2 = ledger.Grant(2, 1, kT0);
  ASSERT_EQ(g2.size(), 1u);
  EXPECT_FALSE(g2[0].endgame);
  EXPECT_TRUE(ledger.in_endgame());

  // Worker 3 asks for more: it gets the leased pieces again, marked endgame.
  std::vector<LeaseGrant> g3 = ledger.Grant(3, 5, kT0);
  ASSERT_EQ(g3.size(), 3u);
  for (const LeaseGrant& g : g3) EXPECT_TRUE(g.endgame);
  // Worker 1 gets only the piece it does not hold yet.
  std::vector<LeaseGrant> g1 = ledger.Grant(1, 5, kT0);
  ASSERT_EQ(g1.size(), 1u);
  EXPECT_EQ(g1[0].piece, g2[0].piece);
  EXPECT_TRUE(g1[0].endgame);
  // Worker 1's two pieces have 2 holders, the last piece 3 (the cap): worker 4 gets the two.
  EXPECT_EQ(ledger.Grant(4, 5, kT0).size(), 2u);
  // The cap is reached: nobody else gets anything, though its peer has every piece.
  ASSERT_TRUE(ledger.SetPeerBitfield(5, "s", All(3)).ok());
  EXPECT_THAT(ledger.Grant(5, 5, kT0), IsEmpty());
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
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "s", All(1)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "s", All(1)).ok());
  ASSERT_EQ(ledger.Grant(1, 1, kT0).size(), 1u);
  ASSERT_EQ(ledger.Grant(2, 1, kT0).size(), 1u);
  ASSERT_TRUE(ledger.PieceFailed(1, 0, FailReason::kAbandoned).ok());
  EXPECT_EQ(ledger.state(0), PieceState::kLeased);
  ASSERT_EQ(ledger.holders(0).size(), 1u);
  EXPECT_EQ(ledger.holders(0)[0].worker, 2u);
  // The other one's lease lapses too: NEEDED again, and not endgame any more.
  EXPECT_EQ(ledger.ExpireLeases(kT0 + absl::Seconds(10)).size(), 1u);
  EXPECT_EQ(ledger.state(0), PieceState::kNeeded);
  EXPECT_FALSE(ledger.in_endgame());
  std::vector<LeaseGrant> again = ledger.Grant(1, 1, kT0);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(again[0].endgame);
}

TEST(PieceLedgerTest, EndgameDefaultsToTwoHoldersAndWorkerDeathDropsOneHolder) {
  PieceLedger ledger(Layout(1), Opts());
  for (WorkerId w : {1, 2, 3}) ASSERT_TRUE(ledger.SetPeerBitfield(w, "s", All(1)).ok());
  ASSERT_EQ(ledger.Grant(1, 1, kT0).size(), 1u);
  ASSERT_EQ(ledger.Grant(2, 1, kT0).size(), 1u);
  EXPECT_THAT(ledger.Grant(3, 1, kT0), IsEmpty());
  EXPECT_THAT(ledger.ReleaseWorker(1), ElementsAre(0));
  EXPECT_EQ(ledger.state(0), PieceState::kLeased);
  ASSERT_TRUE(ledger.PieceDone(2, 0).ok());
  EXPECT_TRUE(ledger.complete());
}

TEST(PieceLedgerTest, HostileLeaseInputNeverCrashes) {
  PieceLedger ledger(Layout(4), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield(0, "a", All(4)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", All(4)).ok());
  EXPECT_EQ(ledger.PieceDone(1, 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.PieceDone(1, 0xFFFFFFFFu).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger.PieceDone(1, 0).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ledger.PieceFailed(1, 99, FailReason::kHashMismatch).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger.Renew(1, 99, 5, kT0).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ledger.state(99), PieceState::kNeeded);
  EXPECT_THAT(ledger.holders(99), IsEmpty());
  // Worker id 0 is never a real worker.
  EXPECT_THAT(ledger.Grant(0, 4, kT0), IsEmpty());
  // A PieceDone from a worker that holds a different piece.
  ASSERT_EQ(ledger.Grant(1, 1, kT0).size(), 1u);
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
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", All(1000)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "b", most).ok());
  EXPECT_THAT(Pieces(ledger.Grant(1, 1, kT0)), ElementsAre(777));
  // Worker 2 has only a peer like b (777 is rarer still: only a has it).
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "b", most).ok());
  EXPECT_EQ(ledger.Grant(2, 2000, kT0).size(), 999u);
  EXPECT_EQ(ledger.needed_pieces(), 0u);
}

// Grants `worker` one piece and gives it straight back: the rarest piece its peers have.
uint32_t Rarest(PieceLedger& ledger, WorkerId worker) {
  const std::vector<LeaseGrant> g = ledger.Grant(worker, 1, kT0);
  if (g.size() != 1) return UINT32_MAX;
  EXPECT_TRUE(ledger.PieceFailed(worker, g[0].piece, FailReason::kAbandoned).ok());
  return g[0].piece;
}

TEST(PieceLedgerTest, RarestFollowsHavesBitfieldsAndRemovals) {
  PieceLedger ledger(Layout(8), Opts());
  // Worker 1 has a seeder, so it can be granted any piece: what it gets is the rarest.
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", All(8)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "b", Have(8, {0, 1, 2, 3, 4, 5, 6})).ok());
  EXPECT_EQ(ledger.availability(0), 2u);
  EXPECT_EQ(ledger.availability(7), 1u);
  EXPECT_EQ(Rarest(ledger, 1), 7u);

  // A have moves piece 7 up; a bitfield without piece 6 leaves 6 the rarest.
  ASSERT_TRUE(ledger.AddPeerHave(2, "c", 7).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "d", Have(8, {0, 1, 2, 3, 4, 5, 7})).ok());
  EXPECT_EQ(ledger.availability(6), 2u);
  EXPECT_EQ(ledger.availability(7), 3u);
  EXPECT_EQ(Rarest(ledger, 1), 6u);

  // d's new bitfield moves 6 up and 0 down.
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "d", Have(8, {1, 2, 3, 4, 5, 6, 7})).ok());
  EXPECT_EQ(ledger.availability(0), 2u);
  EXPECT_EQ(ledger.availability(6), 3u);
  EXPECT_EQ(Rarest(ledger, 1), 0u);

  // Everything at 3, then c leaves: 7 is the rarest again.
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "e", Have(8, {0})).ok());
  EXPECT_EQ(ledger.availability(0), 3u);
  ledger.RemovePeer(2, "c");
  EXPECT_EQ(ledger.availability(7), 2u);
  EXPECT_EQ(Rarest(ledger, 1), 7u);

  // Worker 2 dies: its peers go with it.
  ledger.ReleaseWorker(2);
  EXPECT_FALSE(ledger.HasPeer(2, "d"));
  EXPECT_EQ(ledger.num_peers(), 2u);
  EXPECT_EQ(ledger.availability(0), 2u);
  EXPECT_EQ(ledger.availability(7), 1u);
  EXPECT_EQ(Rarest(ledger, 1), 7u);

  // Counts change while a piece is LEASED too, and it comes back at its new rank: b
  // completes (now a seeder) while 7 is leased, f lacks only 7.
  const std::vector<LeaseGrant> g = ledger.Grant(1, 1, kT0);
  ASSERT_EQ(g.size(), 1u);
  ASSERT_EQ(g[0].piece, 7u);
  ASSERT_TRUE(ledger.AddPeerHave(1, "b", 7).ok());
  EXPECT_EQ(ledger.availability(7), 2u);
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "f", Have(8, {0, 1, 2, 3, 4, 5, 6})).ok());
  ASSERT_TRUE(ledger.PieceFailed(1, 7, FailReason::kAbandoned).ok());
  for (uint32_t p = 0; p < 7; ++p) EXPECT_EQ(ledger.availability(p), 3u) << p;
  EXPECT_EQ(ledger.availability(7), 2u);
  EXPECT_EQ(Rarest(ledger, 1), 7u);
}

TEST(PieceLedgerTest, PeerCompletingByHavesIsCountedOnce) {
  PieceLedger ledger(Layout(3), Opts());
  for (uint32_t p : {0, 1, 2}) ASSERT_TRUE(ledger.AddPeerHave(1, "a", p).ok());
  ASSERT_TRUE(ledger.AddPeerHave(1, "a", 1).ok());  // again, as a seeder
  for (uint32_t p : {0, 1, 2}) EXPECT_EQ(ledger.availability(p), 1u);
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", Have(3, {1})).ok());  // seeder -> partial
  EXPECT_EQ(ledger.availability(0), 0u);
  EXPECT_EQ(ledger.availability(1), 1u);
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", All(3)).ok());  // partial -> seeder
  for (uint32_t p : {0, 1, 2}) EXPECT_EQ(ledger.availability(p), 1u);
  ledger.RemovePeer(1, "a");
  for (uint32_t p : {0, 1, 2}) EXPECT_EQ(ledger.availability(p), 0u);
  EXPECT_EQ(ledger.num_peers(), 0u);
  EXPECT_THAT(ledger.Grant(1, 3, kT0), IsEmpty());
}

TEST(PieceLedgerTest, UnionIsRebuiltWhenAPeerLeavesOrShrinks) {
  PieceLedger ledger(Layout(8), Opts());
  // A piece only the departed peer had is no longer granted.
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "a", Have(8, {0, 1})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "b", Have(8, {2})).ok());
  ledger.RemovePeer(1, "b");
  EXPECT_THAT(Pieces(ledger.Grant(1, 10, kT0)), UnorderedElementsAre(0, 1));
  EXPECT_EQ(ledger.state(2), PieceState::kNeeded);

  // A seeder replaced by a bitfield with one piece: only that piece.
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "c", All(8)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "c", Have(8, {3})).ok());
  EXPECT_THAT(Pieces(ledger.Grant(2, 10, kT0)), ElementsAre(3));

  // The union keeps what the remaining peers have, and grows again after the rebuild.
  ASSERT_TRUE(ledger.SetPeerBitfield(3, "d", Have(8, {4, 5})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(3, "e", Have(8, {5, 6})).ok());
  ledger.RemovePeer(3, "d");
  ASSERT_TRUE(ledger.AddPeerHave(3, "e", 7).ok());
  EXPECT_THAT(Pieces(ledger.Grant(3, 10, kT0)), UnorderedElementsAre(5, 6, 7));
  EXPECT_EQ(ledger.state(4), PieceState::kNeeded);

  // A worker's death drops its peers: nothing left to grant it, their counts gone.
  ASSERT_TRUE(ledger.SetPeerBitfield(4, "f", Have(8, {2, 4})).ok());
  EXPECT_EQ(ledger.availability(4), 1u);
  EXPECT_THAT(ledger.ReleaseWorker(4), IsEmpty());
  EXPECT_FALSE(ledger.HasPeer(4, "f"));
  EXPECT_EQ(ledger.availability(4), 0u);
  EXPECT_THAT(ledger.Grant(4, 10, kT0), IsEmpty());
}

TEST(PieceLedgerTest, UnionWithASeederLeftOrGone) {
  PieceLedger ledger(Layout(8), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "s", All(8)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "p", Have(8, {6})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "q", Have(8, {7})).ok());
  ledger.RemovePeer(1, "q");  // the seeder still has everything
  EXPECT_EQ(ledger.Grant(1, 2, kT0).size(), 2u);
  ledger.RemovePeer(1, "s");  // only p's piece is left
  EXPECT_THAT(Pieces(ledger.Grant(1, 8, kT0)), IsSubsetOf({6u}));
  EXPECT_EQ(ledger.availability(7), 0u);
}

TEST(PieceLedgerTest, WorkerWithNothingNeededIsServedAgainWhenThatChanges) {
  // Nobody has piece 6, so this never turns into endgame.
  PieceLedger ledger(Layout(7), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "x", Have(7, {0, 1})).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "y", Have(7, {0, 1, 2, 3})).ok());
  ASSERT_EQ(ledger.Grant(2, 4, kT0).size(), 4u);
  EXPECT_THAT(ledger.Grant(1, 5, kT0), IsEmpty());  // all it could get is leased
  EXPECT_THAT(ledger.Grant(1, 5, kT0), IsEmpty());
  // A piece falls back to NEEDED.
  ASSERT_TRUE(ledger.PieceFailed(2, 0, FailReason::kAbandoned).ok());
  EXPECT_THAT(Pieces(ledger.Grant(1, 5, kT0)), ElementsAre(0));
  EXPECT_THAT(ledger.Grant(1, 5, kT0), IsEmpty());
  // A have of a leased piece changes nothing; of a NEEDED one, it is granted.
  ASSERT_TRUE(ledger.AddPeerHave(1, "x", 3).ok());
  EXPECT_THAT(ledger.Grant(1, 5, kT0), IsEmpty());
  ASSERT_TRUE(ledger.AddPeerHave(1, "x", 4).ok());
  EXPECT_THAT(Pieces(ledger.Grant(1, 5, kT0)), ElementsAre(4));
  // So is a bitfield with a NEEDED piece, from a new peer.
  EXPECT_THAT(ledger.Grant(1, 5, kT0), IsEmpty());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "z", Have(7, {5})).ok());
  EXPECT_THAT(Pieces(ledger.Grant(1, 5, kT0)), ElementsAre(5));
}

TEST(PieceLedgerTest, RandomTieBreakSpreadsTwoWorkersOverTheTorrent) {
  // A seeder-only swarm: every piece equally rare. Two workers asking at once get disjoint
  // batches spread over the whole torrent, not the first pieces in order.
  constexpr uint32_t kPieces = 10000;
  PieceLedger ledger(Layout(kPieces), Opts());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "s", All(kPieces)).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "s", All(kPieces)).ok());
  const std::vector<uint32_t> a = Pieces(ledger.Grant(1, 16, kT0));
  const std::vector<uint32_t> b = Pieces(ledger.Grant(2, 16, kT0));
  ASSERT_EQ(a.size(), 16u);
  ASSERT_EQ(b.size(), 16u);
  std::set<uint32_t> both(a.begin(), a.end());
  both.insert(b.begin(), b.end());
  EXPECT_EQ(both.size(), 32u);
  for (const std::vector<uint32_t>* batch : {&a, &b}) {
    std::set<uint32_t> tenths;
    for (uint32_t p : *batch) tenths.insert(p / (kPieces / 10));
    EXPECT_GE(tenths.size(), 5u);
  }
}

TEST(PieceLedgerTest, RarestIsFoundAmongManyPiecesTheWorkerLacks) {
  // Worker 2's peer has almost everything once; worker 1's peer has three pieces only it
  // has (as rare as most) and one the other has too. Worker 1 still gets its three first.
  constexpr uint32_t kPieces = 5000;
  PieceLedger ledger(Layout(kPieces), Opts());
  bt::Bitfield big = All(kPieces);
  for (uint32_t p : {10, 4000, 4001}) big.Clear(p);
  ASSERT_TRUE(ledger.SetPeerBitfield(2, "big", big).ok());
  ASSERT_TRUE(ledger.SetPeerBitfield(1, "small", Have(kPieces, {10, 2500, 4000, 4001})).ok());
  EXPECT_THAT(Pieces(ledger.Grant(1, 3, kT0)), UnorderedElementsAre(10, 4000, 4001));
  EXPECT_THAT(Pieces(ledger.Grant(1, 5, kT0)), ElementsAre(2500));
  EXPECT_THAT(ledger.Grant(1, 5, kT0), IsEmpty());
}

class PieceLedgerModelTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(PieceLedgerModelTest, RandomOperationsMatchAModel) {
  // Availability, grants and their order checked against a brute-force model after random
  // bitfields, haves, removals, deaths, grants, failures, expiries and completions. At 4096
  // pieces a dense bitfield moves enough pieces that the buckets are rebuilt in one pass.
  const uint32_t kPieces = GetParam();
  std::mt19937_64 rng(7);
  PieceLedger ledger(Layout(kPieces), Opts(3));
  std::map<WorkerId, std::map<std::string, bt::Bitfield>> model;
  auto union_of = [&](WorkerId w) {
    bt::Bitfield u(kPieces);
    for (const auto& [key, bits] : model[w]) EXPECT_TRUE(u.UnionWith(bits).ok());
    return u;
  };
  auto check_availability = [&]() {
    size_t peers = 0;
    std::vector<uint32_t> count(kPieces, 0);
    for (const auto& [w, ps] : model) {
      peers += ps.size();
      for (const auto& [key, bits] : ps) {
        for (uint32_t p = 0; p < kPieces; ++p) count[p] += bits.Get(p) ? 1 : 0;
      }
    }
    EXPECT_EQ(ledger.num_peers(), peers);
    for (uint32_t p = 0; p < kPieces; ++p) ASSERT_EQ(ledger.availability(p), count[p]) << p;
  };
  absl::Time now = kT0;
  for (int step = 0; step < 4000; ++step) {
    const WorkerId w = 1 + rng() % 4;
    const std::string key(1, static_cast<char>('a' + rng() % 3));
    const uint32_t piece = static_cast<uint32_t>(rng() % kPieces);
    switch (rng() % 10) {
      case 0:
      case 1: {
        bt::Bitfield bits(kPieces);
        const uint64_t density = rng() % 5 == 0 ? 100 : rng() % 60;
        for (uint32_t p = 0; p < kPieces; ++p) {
          if (rng() % 100 < density) bits.Set(p);
        }
        ASSERT_TRUE(ledger.SetPeerBitfield(w, key, bits).ok());
        model[w][key] = bits;
        break;
      }
      case 2:
      case 3: {
        ASSERT_TRUE(ledger.AddPeerHave(w, key, piece).ok());
        auto [it, added] = model[w].try_emplace(key, bt::Bitfield(kPieces));
        it->second.Set(piece);
        break;
      }
      case 4:
        ledger.RemovePeer(w, key);
        model[w].erase(key);
        break;
      case 5: {
        const std::vector<uint32_t> mine = ledger.LeasesOf(w);
        if (mine.empty()) break;
        const uint32_t p = mine[rng() % mine.size()];
        if (rng() % 3 == 0) {
          ASSERT_TRUE(ledger.PieceDone(w, p).ok());
        } else {
          ASSERT_TRUE(ledger.PieceFailed(w, p, FailReason::kAbandoned).ok());
        }
        break;
      }
      case 6:
        if (rng() % 20 == 0) {
          ledger.ReleaseWorker(w);
          model.erase(w);
        } else if (rng() % 10 == 0) {
          now += absl::Seconds(20);
          ledger.ExpireLeases(now);
        }
        break;
      default: {
        const bt::Bitfield u = union_of(w);
        std::vector<PieceState> before(kPieces);
        for (uint32_t p = 0; p < kPieces; ++p) before[p] = ledger.state(p);
        const uint32_t want = 1 + static_cast<uint32_t>(rng() % 5);
        const std::vector<LeaseGrant> grants = ledger.Grant(w, want, now);
        uint32_t fresh = 0;
        uint32_t rarest_granted = 0;
        for (const LeaseGrant& g : grants) {
          ASSERT_TRUE(u.Get(g.piece)) << g.piece;
          if (g.endgame) continue;
          ASSERT_EQ(before[g.piece], PieceState::kNeeded) << g.piece;
          ++fresh;
          rarest_granted = std::max(rarest_granted, ledger.availability(g.piece));
        }
        uint32_t left = 0;
        for (uint32_t p = 0; p < kPieces; ++p) {
          if (!u.Get(p) || ledger.state(p) != PieceState::kNeeded) continue;
          ++left;
          ASSERT_LE(rarest_granted, ledger.availability(p)) << p;
        }
        // Short of what it asked only when nothing its peers have is NEEDED any more.
        if (fresh < want) {
          ASSERT_EQ(left, 0u);
        }
        break;
      }
    }
    if (step % 50 == 0) check_availability();
  }
  check_availability();
}

INSTANTIATE_TEST_SUITE_P(Sizes, PieceLedgerModelTest, ::testing::Values(300u, 4096u));

}  // namespace
}  // namespace swarm::coordinator
