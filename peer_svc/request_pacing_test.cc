#include "peer_svc/request_pacing.h"

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::peer_svc {
namespace {

// The decision is to send RequestWork{max_pieces, max_peers} now.
MATCHER_P2(SendsRequest, max_pieces, max_peers, "") {
  *result_listener << "send " << arg.send << ", max_pieces " << arg.max_pieces << ", max_peers "
                   << arg.max_peers;
  return arg.send && arg.max_pieces == static_cast<uint32_t>(max_pieces) &&
         arg.max_peers == static_cast<uint32_t>(max_peers);
}

class RequestPacingTest : public ::testing::Test {
 protected:
  // Downloading with one peer whose queue could use 3 pieces (6 leases wanted), none held,
  // the last request half a second ago (past min_request_gap, within request_interval),
  // nothing new since, no free peer slot.
  PacingState Downloading() const {
    PacingState s;
    s.has_peers = true;
    s.desired_pieces = 3;
    s.last_request = now_ - absl::Milliseconds(500);
    return s;
  }
  PacingDecision Pace(const PacingState& s) const { return PaceWorkRequests(options_, s, now_); }

  PacingOptions options_;
  const absl::Time now_ = absl::FromUnixSeconds(1000);
};

TEST_F(RequestPacingTest, AsksForTwiceWhatTheConnectionsWantLessWhatIsHeld) {
  PacingState s = Downloading();
  s.pieces_changed = true;
  s.leases_held = 2;
  s.free_peer_slots = 7;
  const PacingDecision d = Pace(s);
  EXPECT_THAT(d, SendsRequest(6 - 2, 7));
  EXPECT_EQ(d.call_again, absl::InfiniteFuture());
  EXPECT_EQ(d.starved_since, now_) << "waiting for leases from now on";
  EXPECT_FALSE(d.start_endgame);
}

TEST_F(RequestPacingTest, AsksForAtLeastMinLeases) {
  PacingState s = Downloading();
  s.pieces_changed = true;
  s.desired_pieces = 0;  // no peer has unchoked us yet
  const PacingDecision d = Pace(s);
  EXPECT_THAT(d, SendsRequest(options_.min_leases, 0));
}

TEST_F(RequestPacingTest, WithoutAPeerAsksForPeersOnly) {
  PacingState s = Downloading();
  s.has_peers = false;
  s.desired_pieces = 0;
  s.pieces_changed = true;
  s.peers_changed = true;
  s.free_peer_slots = 5;
  const PacingDecision d = Pace(s);
  EXPECT_THAT(d, SendsRequest(0, 5));
  EXPECT_EQ(d.starved_since, absl::InfiniteFuture()) << "no leases asked for";

  s.free_peer_slots = 0;  // and no room for one: nothing to ask for
  EXPECT_FALSE(Pace(s).send);
}

TEST_F(RequestPacingTest, LeasesAreAskedForInQuarterBatches) {
  PacingState s = Downloading();
  s.pieces_changed = true;
  s.desired_pieces = 6;  // 12 wanted: a batch once 3 are missing
  s.leases_held = 10;
  EXPECT_FALSE(Pace(s).send) << "2 missing: less than a quarter";
  s.leases_held = 9;
  const PacingDecision d = Pace(s);
  EXPECT_THAT(d, SendsRequest(3, 0));
  s.leases_held = 12;
  EXPECT_FALSE(Pace(s).send) << "nothing missing";
}

TEST_F(RequestPacingTest, ARequestForPeersCarriesTheSmallerBatchToo) {
  PacingState s = Downloading();
  s.desired_pieces = 6;
  s.leases_held = 10;  // 2 missing: not due on their own
  s.peers_changed = true;
  s.free_peer_slots = 4;
  const PacingDecision d = Pace(s);
  EXPECT_THAT(d, SendsRequest(2, 4));
  EXPECT_EQ(d.starved_since, now_);
}

TEST_F(RequestPacingTest, WithoutNewsAsksAgainOnlyAfterTheInterval) {
  PacingState s = Downloading();
  s.free_peer_slots = 3;
  EXPECT_FALSE(Pace(s).send) << "leases due, but the coordinator had none half a second ago";
  s.last_request = now_ - options_.request_interval;
  const PacingDecision d = Pace(s);
  EXPECT_THAT(d, SendsRequest(6, 3));
}

TEST_F(RequestPacingTest, PeersAreAskedForWhenOneLeftOrAfterTheInterval) {
  PacingState s = Downloading();
  s.leases_held = 6;  // no leases wanted
  s.free_peer_slots = 2;
  EXPECT_FALSE(Pace(s).send);
  s.peers_changed = true;
  PacingDecision d = Pace(s);
  EXPECT_THAT(d, SendsRequest(0, 2));
  EXPECT_EQ(d.starved_since, absl::InfiniteFuture());

  s.free_peer_slots = 0;
  EXPECT_FALSE(Pace(s).send) << "no room for a peer";
  s.peers_changed = false;
  s.free_peer_slots = 2;
  s.last_request = now_ - options_.request_interval;
  EXPECT_TRUE(Pace(s).send);
}

TEST_F(RequestPacingTest, ASeedAsksForPeersOnlyAtTheSeedInterval) {
  PacingState s = Downloading();
  s.seeding = true;
  s.pieces_changed = true;  // irrelevant to a seed
  s.free_peer_slots = 5;
  s.last_request = now_ - options_.request_interval;
  EXPECT_FALSE(Pace(s).send);
  s.last_request = now_ - options_.seed_request_interval;
  const PacingDecision d = Pace(s);
  EXPECT_THAT(d, SendsRequest(0, 5));
  EXPECT_EQ(d.starved_since, absl::InfiniteFuture());

  s.free_peer_slots = 0;
  EXPECT_FALSE(Pace(s).send);
}

TEST_F(RequestPacingTest, BecomingASeedIsToldAtOnceWhateverTheSlots) {
  PacingState s = Downloading();
  s.seeding = true;
  s.became_seed = true;
  s.free_peer_slots = 0;
  const PacingDecision d = Pace(s);
  // max_pieces = 0 drops the coordinator's standing lease request.
  EXPECT_THAT(d, SendsRequest(0, 0));
}

TEST_F(RequestPacingTest, MinRequestGapHoldsARequestBackAndSaysWhenToComeBack) {
  PacingState s = Downloading();
  s.pieces_changed = true;
  s.last_request = now_ - absl::Milliseconds(4);
  PacingDecision d = Pace(s);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.call_again, s.last_request + options_.min_request_gap);
  EXPECT_EQ(d.starved_since, absl::InfiniteFuture());

  s.last_request = now_ - options_.min_request_gap;
  d = Pace(s);
  EXPECT_TRUE(d.send);
  EXPECT_EQ(d.call_again, absl::InfiniteFuture());
}

TEST_F(RequestPacingTest, NothingToAskNeedsNoCallBack) {
  PacingState s = Downloading();
  s.leases_held = 6;
  s.last_request = now_ - absl::Milliseconds(4);  // within the gap, but nothing to ask
  const PacingDecision d = Pace(s);
  EXPECT_FALSE(d.send);
  EXPECT_EQ(d.call_again, absl::InfiniteFuture());
}

TEST_F(RequestPacingTest, StarvedSinceIsKeptByLaterRequests) {
  PacingState s = Downloading();
  s.pieces_changed = true;
  s.starved_since = now_ - absl::Milliseconds(700);
  const PacingDecision d = Pace(s);
  EXPECT_TRUE(d.send);
  EXPECT_EQ(d.starved_since, now_ - absl::Milliseconds(700));
}

TEST_F(RequestPacingTest, EndgameStartsWhenStarvedWithEveryLeaseInFlight) {
  PacingState s = Downloading();
  s.leases_held = 6;
  s.leases_free = 0;
  s.starved_since = now_ - options_.endgame_after;
  EXPECT_TRUE(Pace(s).start_endgame);

  PacingState t = s;
  t.starved_since = now_ - options_.endgame_after + absl::Milliseconds(1);
  EXPECT_FALSE(Pace(t).start_endgame) << "not starved for long enough";
  t = s;
  t.starved_since = absl::InfiniteFuture();
  EXPECT_FALSE(Pace(t).start_endgame) << "not waiting for leases";
  t = s;
  t.leases_free = 1;
  EXPECT_FALSE(Pace(t).start_endgame) << "a lease nobody fetches yet";
  t = s;
  t.leases_held = 0;
  EXPECT_FALSE(Pace(t).start_endgame) << "nothing in flight";
  t = s;
  t.endgame = true;
  EXPECT_FALSE(Pace(t).start_endgame) << "already in endgame";
}

TEST_F(RequestPacingTest, EndgameAndARequestCanComeTogether) {
  PacingState s = Downloading();
  s.leases_held = 2;
  s.pieces_changed = true;
  s.starved_since = now_ - absl::Seconds(5);
  const PacingDecision d = Pace(s);
  EXPECT_TRUE(d.start_endgame);
  EXPECT_THAT(d, SendsRequest(4, 0));
  EXPECT_EQ(d.starved_since, s.starved_since);
}

}  // namespace
}  // namespace swarm::peer_svc
