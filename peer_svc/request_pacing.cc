#include "peer_svc/request_pacing.h"

#include <algorithm>

namespace swarm::peer_svc {

PacingDecision PaceWorkRequests(const PacingOptions& options, const PacingState& state,
                                absl::Time now) {
  PacingDecision d;
  d.starved_since = state.starved_since;
  // Every lease out and no fresh one for a while: the coordinator has nothing left to give,
  // so the stragglers in flight are worth a second peer's time.
  d.start_endgame = !state.endgame && state.leases_held > 0 && state.leases_free == 0 &&
                    now - state.starved_since >= options.endgame_after;

  uint32_t max_pieces = 0;
  uint32_t high = 0;
  if (!state.seeding) {
    // Leases wanted: what the connections could use to keep their queues full, twice over,
    // so that a batch asked for now arrives before the pool runs dry. Asked for in batches
    // (once a quarter of that is missing), not piece by piece.
    high = std::max(2 * state.desired_pieces, options.min_leases);
    // No connection, nobody to fetch with: ask for peers first (leases would only lapse).
    max_pieces = state.has_peers && high > state.leases_held ? high - state.leases_held : 0;
  }
  const bool pieces_due = max_pieces > 0 && max_pieces >= high / 4;
  const absl::Duration since = now - state.last_request;
  const bool interval_passed =
      since >= (state.seeding ? options.seed_request_interval : options.request_interval);
  // Without something new to say, ask again only after the interval: the coordinator may
  // simply have nothing to give.
  const bool ask_pieces = pieces_due && (state.pieces_changed || interval_passed);
  const bool ask_peers =
      state.became_seed || (state.free_peer_slots > 0 && (state.peers_changed || interval_passed));
  if (!ask_pieces && !ask_peers) return d;
  if (since < options.min_request_gap) {
    d.call_again = state.last_request + options.min_request_gap;
    return d;
  }
  d.send = true;
  d.max_pieces = max_pieces;
  d.max_peers = state.free_peer_slots;
  if (max_pieces > 0 && state.starved_since == absl::InfiniteFuture()) d.starved_since = now;
  return d;
}

}  // namespace swarm::peer_svc
