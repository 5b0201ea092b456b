// The worker's share of one job: the pieces the coordinator leased to it, which connected peer
// has which piece, and which peer is fetching which lease. Peer connections ask it for a piece
// to fetch; the job reports what it says back to the coordinator (progress, pieces nobody
// here can fetch).
//
// A lease is fetched by one peer at a time. A second peer may fetch a piece already in flight
// on another when that fetch is slow (it has run for four times as long as fetches here
// usually take, and at least a quarter second: a peer trickling its blocks must not hold the
// piece until the endgame), or when the job is starved (the coordinator has no more leases to give,
// set_endgame). The first verified copy wins (Take); the other is cancelled.
//
// Pure and not thread-safe: the job holds it under its mutex; times come from the caller.
//
//   PiecePool pool(layout.num_pieces());
//   pool.AddLease(7, now);
//   pool.SetPeerPieces(peer, bitfield);
//   if (std::optional<uint32_t> piece = pool.Pick(peer, now)) Fetch(*piece);
//   ...
//   std::vector<PiecePool::PeerKey> losers;
//   if (pool.Take(7, peer, now, &losers)) WriteAndReport(7);  // and cancel 7 on `losers`
#ifndef SWARM_PEER_SVC_PIECE_POOL_H_
#define SWARM_PEER_SVC_PIECE_POOL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "bt/bitfield.h"

namespace swarm::peer_svc {

class PiecePool {
 public:
  // A connection's identity within the job (connections are numbered by the job).
  using PeerKey = uint64_t;

  struct Progress {
    uint32_t piece;
    uint32_t bytes;
  };

  explicit PiecePool(uint32_t num_pieces) : num_pieces_(num_pieces) {}

  // --- leases ---

  // Adds a lease; false when the piece is out of range or already held.
  bool AddLease(uint32_t piece, absl::Time now);
  bool Holds(uint32_t piece) const { return leases_.count(piece) != 0; }
  // Leases held (free or being fetched).
  size_t size() const { return leases_.size(); }
  // Leases no peer is fetching.
  size_t num_free() const { return free_.size(); }
  // Drops a lease (revoked, failed, given up); returns the peers that were fetching it, which
  // must stop.
  std::vector<PeerKey> Remove(uint32_t piece);
  // `peer` verified `piece`: when `peer` was fetching that lease, removes it (the caller
  // writes and reports the piece), puts the other peers fetching it into *others (to be
  // cancelled) and returns true. False when the lease is gone (revoked, or another copy won
  // first): the caller drops its copy.
  // The fetch's duration feeds what counts as slow.
  bool Take(uint32_t piece, PeerKey peer, absl::Time now, std::vector<PeerKey>* others);

  // --- peers ---

  // The pieces `peer` has (its bitfield; have-all / have-none as a full / empty set).
  void SetPeerPieces(PeerKey peer, const bt::Bitfield& have);
  void AddPeerPiece(PeerKey peer, uint32_t piece);
  // Forgets a peer; the leases it was fetching become free for the others.
  void RemovePeer(PeerKey peer, absl::Time now);
  // Never give `piece` to `peer` again (it refused it or sent bad data). Does not release it.
  void Exclude(uint32_t piece, PeerKey peer);

  // --- fetching ---

  // Allows a second peer to fetch a lease already in flight (see the top of this file).
  void set_endgame(bool on) { endgame_ = on; }
  bool endgame() const { return endgame_; }
  // A lease for `peer` to fetch now: a free one it has, lowest index first; else one that
  // exactly one other peer is fetching, slowly (the longest running), or in endgame at any
  // pace (the least advanced). Marks `peer` as fetching it.
  std::optional<uint32_t> Pick(PeerKey peer, absl::Time now);
  // Whether a fetch is slow enough at `now` for a second peer to take it up (the job wakes
  // its idle connections then).
  bool HasSlowFetch(absl::Time now) const;
  // How long a fetch runs before it counts as slow; infinite until a fetch has finished here.
  absl::Duration SlowAfter() const;
  // Whether `peer` has a lease that it could fetch now or in endgame (drives interested).
  bool Wants(PeerKey peer) const;
  // `peer` stopped fetching `piece` (choked, refused, cancelled); another peer may take it.
  void Release(uint32_t piece, PeerKey peer, absl::Time now);
  // Bytes of `piece` that `peer` has received so far.
  void SetProgress(uint32_t piece, PeerKey peer, uint32_t bytes);

  // --- reports ---

  // Leases whose received bytes grew since the last call (the heartbeat's progress, which
  // renews them at the coordinator).
  std::vector<Progress> TakeProgress();
  // Free leases that no connected peer can fetch and that have been so for `grace`: removed
  // here and returned, so the job hands them back (ABANDONED) for another worker. The grace
  // covers peers still connecting when their leases arrive.
  std::vector<uint32_t> TakeOrphans(absl::Time now, absl::Duration grace);

 private:
  struct Fetcher {
    PeerKey peer;
    uint32_t bytes;
    absl::Time since;  // when this peer began fetching the piece
  };
  struct Lease {
    std::vector<Fetcher> fetchers;
    // When it was granted or last became free.
    absl::Time free_since;
    // The progress last returned by TakeProgress.
    uint32_t reported_bytes = 0;
  };
  struct Peer {
    bt::Bitfield have;
    absl::flat_hash_set<uint32_t> excluded;
  };

  bool CanFetch(const Peer& peer, uint32_t piece) const {
    return peer.have.Get(piece) && peer.excluded.count(piece) == 0;
  }
  Peer& PeerFor(PeerKey peer);

  const uint32_t num_pieces_;
  bool endgame_ = false;
  // Moving average of how long a verified fetch took; zero until one has.
  absl::Duration typical_fetch_ = absl::ZeroDuration();
  // Ordered by index: peers are mostly asked for neighbouring pieces, good for their disks.
  std::map<uint32_t, Lease> leases_;
  std::set<uint32_t> free_;
  absl::flat_hash_map<PeerKey, Peer> peers_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PIECE_POOL_H_
