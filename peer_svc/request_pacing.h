// When a job asks the coordinator for work (RequestWork), for how much, and when it gives up
// waiting for fresh leases and fetches in-flight pieces twice (the worker's endgame): a pure
// function of the job's state and the time, which WorkerJob::Tick calls on every tick and
// applies.
//
// Leases wanted: twice what the connections could use to keep their request queues full
// (PeerConnection::desired_pieces, summed), at least `min_leases`, less those held — asked
// for in batches, once a quarter of that is missing, and only with a peer connected. Peers
// wanted: the worker's free peer slots. Without news (pieces_changed / peers_changed) a
// request is repeated only after `request_interval` (`seed_request_interval` while seeding);
// two requests are at least `min_request_gap` apart. A job that just became a seed says so
// (max_pieces = 0) at once. Endgame: leases were asked for and none came for `endgame_after`,
// every lease held is being fetched, and the pool is not in endgame yet.
//
//   PacingState s;
//   s.desired_pieces = 6; s.has_peers = true; s.free_peer_slots = 10;
//   s.last_request = last_request_; s.starved_since = starved_since_;  // ... and the rest
//   const PacingDecision d = PaceWorkRequests(options, s, now);
//   if (d.start_endgame) pool.set_endgame(true);
//   if (d.send) SendRequestWork(d.max_pieces, d.max_peers), last_request_ = now;
//   starved_since_ = d.starved_since;
//   return d.call_again;
#ifndef SWARM_PEER_SVC_REQUEST_PACING_H_
#define SWARM_PEER_SVC_REQUEST_PACING_H_

#include <cstdint>

#include "absl/time/time.h"

namespace swarm::peer_svc {

struct PacingOptions {
  // The fewest leases asked for, even before any peer is fast.
  uint32_t min_leases = 4;
  // Asked for leases and got none for this long while pieces are still in flight: fetch
  // in-flight pieces from a second peer too (worker-level endgame).
  absl::Duration endgame_after = absl::Seconds(1);
  // RequestWork again after this long without any progress to prompt it.
  absl::Duration request_interval = absl::Seconds(1);
  // The same while seeding, when only peers are asked for (the coordinator remembers a
  // request it could not fill, so this only guards against a lost one).
  absl::Duration seed_request_interval = absl::Seconds(10);
  // Least time between two RequestWork, however fast pieces complete.
  absl::Duration min_request_gap = absl::Milliseconds(10);
};

// What the job knows at a tick.
struct PacingState {
  // Every piece is verified: only peers are asked for.
  bool seeding = false;
  // Connections open or opening (without one, leases would only lapse).
  bool has_peers = false;
  // Sum of the connections' PeerConnection::desired_pieces.
  uint32_t desired_pieces = 0;
  // Leases held (PiecePool::size) and those no peer is fetching (PiecePool::num_free).
  uint32_t leases_held = 0;
  uint32_t leases_free = 0;
  // The pool already lets a second peer fetch a piece in flight.
  bool endgame = false;
  // The worker's peer connections left.
  uint32_t free_peer_slots = 0;
  // Since the last RequestWork: leases finished, handed back or newly available; a peer
  // gone; every piece verified.
  bool pieces_changed = false;
  bool peers_changed = false;
  bool became_seed = false;
  // When the last RequestWork went out.
  absl::Time last_request = absl::InfinitePast();
  // Since when leases were asked for and none came (InfiniteFuture: not waiting).
  absl::Time starved_since = absl::InfiniteFuture();
};

struct PacingDecision {
  // Put the pool into endgame (and wake the connections).
  bool start_endgame = false;
  // Send RequestWork{max_pieces, max_peers} now; the caller then clears pieces_changed,
  // peers_changed and became_seed and sets last_request to now.
  bool send = false;
  uint32_t max_pieces = 0;
  uint32_t max_peers = 0;
  // Call again by then at the latest (a request held back by min_request_gap), or
  // InfiniteFuture.
  absl::Time call_again = absl::InfiniteFuture();
  // PacingState::starved_since from now on: `now` when this request is the first to ask
  // for leases since some came.
  absl::Time starved_since = absl::InfiniteFuture();
};

PacingDecision PaceWorkRequests(const PacingOptions& options, const PacingState& state,
                                absl::Time now);

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_REQUEST_PACING_H_
