// Who a job uploads to: BEP 3 choking, as transmission and libtorrent do it. A fixed number of
// upload slots go to the interested peers that send us data fastest while we download
// (tit-for-tat), or that take data fastest while we seed; they are re-chosen every 10 s. One
// more slot, the optimistic unchoke, rotates every 30 s among the other interested peers, so
// that a peer we have never uploaded to gets the chance to show what it gives back; peers
// never optimistically unchoked go first, the newest of them first (libtorrent's order: it
// favours new peers without a random draw). Between rechokes a peer that becomes interested
// is unchoked at once when a regular slot is free, so a quiet swarm does not wait 10 s.
//
// Pure: no I/O, no locks, no clock; the job holds it under its mutex and passes the time.
//
//   Choker choker(Choker::Options(), now);
//   choker.AddPeer(key, now);
//   if (choker.SetInterested(key, true)) Unchoke(key);  // a regular slot was free
//   if (now >= choker.next_rechoke()) {
//     std::vector<Choker::PeerKey> unchoked = choker.Rechoke(now, stats, seeding);
//     ... unchoke those, choke every other peer ...
//   }
#ifndef SWARM_PEER_SVC_CHOKER_H_
#define SWARM_PEER_SVC_CHOKER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace swarm::peer_svc {

class Choker {
 public:
  using PeerKey = uint64_t;

  struct Options {
    // Regular upload slots (the optimistic unchoke comes on top).
    uint32_t upload_slots = 4;
    absl::Duration rechoke_interval = absl::Seconds(10);
    absl::Duration optimistic_interval = absl::Seconds(30);
  };

  // A peer's payload byte counters, as totals since it connected: rates come from the change
  // between two rechokes.
  struct PeerStats {
    PeerKey key = 0;
    uint64_t downloaded = 0;  // from the peer to us
    uint64_t uploaded = 0;    // from us to the peer
  };

  Choker(const Options& options, absl::Time now);

  // A new connection (choked, not interested).
  void AddPeer(PeerKey key, absl::Time now);
  void RemovePeer(PeerKey key);
  // The peer said interested / not interested. True when the peer is to be unchoked now: it
  // became interested while choked and a regular slot is free. A peer that loses interest
  // stays unchoked until the next rechoke (it requests nothing anyway).
  bool SetInterested(PeerKey key, bool interested);
  // Unchokes interested peers into regular slots left free (a peer gone or no longer
  // interested), fastest first by the last rechoke's rates; returns them.
  std::vector<PeerKey> FillFreeSlots();

  // When the next Rechoke is due.
  absl::Time next_rechoke() const { return next_rechoke_; }
  // Chooses the unchoked set from now on and returns it (ascending keys); every other peer is
  // to be choked. `stats` holds the counters of the peers (those missing count as no
  // transfer). `seeding`: rank by the rate we send to peers, not the rate they send us.
  std::vector<PeerKey> Rechoke(absl::Time now, absl::Span<const PeerStats> stats, bool seeding);

  bool unchoked(PeerKey key) const;
  bool interested(PeerKey key) const;
  std::optional<PeerKey> optimistic() const { return optimistic_; }
  // Peers unchoked and interested: the ones we upload to.
  uint32_t num_uploading() const;
  size_t num_peers() const { return peers_.size(); }

 private:
  struct Peer {
    bool interested = false;
    bool unchoked = false;
    absl::Time added;
    // Never: InfinitePast, so that such peers come first in line for the optimistic slot.
    absl::Time last_optimistic = absl::InfinitePast();
    // Counters at the last rechoke (or when added), and the rates measured then.
    absl::Time sampled;
    uint64_t downloaded = 0;
    uint64_t uploaded = 0;
    double rate = 0;  // the rate that ranks it: from the peer, or to it when seeding
  };

  uint32_t RegularSlotsUsed() const;
  // The next optimistic unchoke among interested peers not in `regular`.
  std::optional<PeerKey> PickOptimistic(const std::vector<PeerKey>& regular) const;

  const Options options_;
  absl::flat_hash_map<PeerKey, Peer> peers_;
  std::optional<PeerKey> optimistic_;
  absl::Time optimistic_since_ = absl::InfinitePast();
  absl::Time next_rechoke_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_CHOKER_H_
