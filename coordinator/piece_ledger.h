// The piece ledger of one job: every piece is exactly one of NEEDED, LEASED (to one worker, or
// in endgame to a few, each until a deadline) or VERIFIED; it counts how many reported peers
// have each piece and picks what to lease next, rarest first. coordinator/STATE.md is the
// state machine this class implements, transition by transition.
//
// Sized for huge torrents (millions of pieces): a grant, a renewal, a PieceDone and a have
// cost the same at any torrent size; a bitfield costs a pass over its 64-bit words plus one
// step per piece whose count changes (nothing per piece for a seeder's).
//
// Pure on purpose: no gRPC, threads, I/O or clock of its own ("now" is an argument), so every
// transition can be tested with made-up times and the gRPC adapter stays thin. Not
// thread-safe: the owning Job serializes calls under its mutex.
//
// Every input here ultimately comes from a worker or a peer, so nothing is trusted: a piece
// index out of range, a PieceDone for a piece the worker does not hold or a bitfield of the
// wrong size gives an error status, never a crash, and leaves the ledger unchanged.
//
//   PieceLedger::Options options;
//   options.lease_ttl = absl::Seconds(10);
//   PieceLedger ledger(layout, options);
//   ledger.SetPeerBitfield(7, "10.0.0.1:6881", have);    // worker 7 reports a peer's pieces
//   for (const LeaseGrant& g : ledger.Grant(7, 16, now)) ...   // among what 7's peers have
//   ...
//   absl::StatusOr<std::vector<WorkerId>> losers = ledger.PieceDone(7, piece);
//   // in endgame, *losers are the other holders: send them RevokeLeases.
#ifndef SWARM_COORDINATOR_PIECE_LEDGER_H_
#define SWARM_COORDINATOR_PIECE_LEDGER_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bt/bitfield.h"
#include "bt/piece_layout.h"
#include "coordinator/worker_id.h"

namespace swarm::coordinator {

enum class PieceState { kNeeded, kLeased, kVerified };

// Why a worker gave a leased piece back (mirrors the proto's PieceFailure).
enum class FailReason { kHashMismatch, kAbandoned, kWriteError };

// One worker's lease on a piece.
struct Holder {
  WorkerId worker = 0;
  // The lease lapses at this time unless progress renews it.
  absl::Time deadline;
  // The most bytes of the piece the worker has reported; only an increase renews the lease,
  // so a worker that keeps heartbeating but is stuck on a piece still loses it.
  uint64_t bytes_received = 0;
  // Granted as an endgame duplicate (the piece already had a holder).
  bool endgame = false;
};

// A lease handed out by Grant.
struct LeaseGrant {
  uint32_t piece = 0;
  bool endgame = false;
  bool operator==(const LeaseGrant& o) const { return piece == o.piece && endgame == o.endgame; }
};

// A lease that ExpireLeases took back: the worker must be sent RevokeLeases.
struct ExpiredLease {
  WorkerId worker = 0;
  uint32_t piece = 0;
  bool operator==(const ExpiredLease& o) const { return worker == o.worker && piece == o.piece; }
};

class PieceLedger {
 public:
  struct Options {
    // How long a lease lives without progress.
    absl::Duration lease_ttl = absl::Seconds(10);
    // Most workers that hold one piece at once in endgame, the first holder included. Small:
    // each duplicate fetches the whole piece again.
    int max_endgame_holders = 2;
    // Most peers whose bitfields are kept (over all workers); each costs num_pieces / 8 bytes.
    size_t max_peers = 20000;
    // Seeds the random tie-break among equally rare pieces (fixed in tests).
    uint64_t seed = 0;
  };

  explicit PieceLedger(const bt::PieceLayout& layout) : PieceLedger(layout, Options()) {}
  PieceLedger(const bt::PieceLayout& layout, Options options);

  // --- queries ---
  uint32_t num_pieces() const { return layout_.num_pieces(); }
  // State of `piece`; an index out of range reads as kNeeded (callers validate first).
  PieceState state(uint32_t piece) const;
  // The current holders of `piece` (empty unless kLeased).
  std::vector<Holder> holders(uint32_t piece) const;
  // Pieces `worker` currently holds a lease on, ascending.
  std::vector<uint32_t> LeasesOf(WorkerId worker) const;
  // How many tracked peers have `piece` (0 out of range).
  uint32_t availability(uint32_t piece) const {
    return InRange(piece) ? seeds_ + rank_[piece].partial : 0;
  }
  uint32_t verified_pieces() const { return verified_.Count(); }
  uint32_t needed_pieces() const { return needed_.Count(); }
  uint32_t leased_pieces() const { return num_pieces() - verified_pieces() - needed_pieces(); }
  uint64_t verified_bytes() const { return verified_bytes_; }
  uint64_t missing_bytes() const { return layout_.total_length() - verified_bytes_; }
  bool complete() const { return verified_.All(); }
  // Nothing is NEEDED but something is still LEASED: duplicates may be granted.
  bool in_endgame() const { return needed_.None() && leased_pieces() > 0; }
  // Hash mismatches reported by holders so far.
  uint32_t hash_failures() const { return hash_failures_; }
  // The VERIFIED pieces as a bitfield (what a worker may upload: StartJob.verified).
  const bt::Bitfield& VerifiedBitfield() const { return verified_; }

  // --- resume ---
  // NEEDED -> VERIFIED for a piece whose data on disk matched its hash while CHECKING.
  // FAILED_PRECONDITION unless the piece is NEEDED.
  absl::Status MarkVerified(uint32_t piece);

  // --- availability ---
  // A peer is a connection of one worker: (`worker`, `peer`), where `peer` is an opaque key
  // (the Job uses "ip:port"). The same swarm peer seen by two workers is counted per
  // connection and removed per connection, and a worker is granted only what its own peers
  // have.
  //
  // Sets (or replaces) what `worker`'s `peer` has. INVALID_ARGUMENT if the size is not
  // num_pieces(); RESOURCE_EXHAUSTED past Options::max_peers.
  absl::Status SetPeerBitfield(WorkerId worker, const std::string& peer, const bt::Bitfield& have);
  // `worker`'s `peer` announced `piece`. A peer not seen yet starts with an empty bitfield
  // (BEP 3 lets a peer with nothing skip the bitfield message).
  absl::Status AddPeerHave(WorkerId worker, const std::string& peer, uint32_t piece);
  // Forgets `worker`'s `peer` and subtracts its pieces from the availability. Unknown peers
  // are ignored.
  void RemovePeer(WorkerId worker, const std::string& peer);
  bool HasPeer(WorkerId worker, const std::string& peer) const;
  // Peers tracked, over all workers.
  size_t num_peers() const { return num_peers_; }

  // --- leases ---
  // Leases up to `max_pieces` pieces to `worker`, chosen among those at least one of its
  // peers (SetPeerBitfield, AddPeerHave) has: NEEDED pieces rarest first, equally rare ones in
  // random order so that workers asking at the same time do not all start on the same
  // pieces. In endgame it grants LEASED pieces again (fewest holders first, never one the
  // worker already holds, at most max_endgame_holders per piece). The leases run until
  // now + lease_ttl. A worker without peers gets nothing.
  std::vector<LeaseGrant> Grant(WorkerId worker, uint32_t max_pieces, absl::Time now);
  // `worker` has `bytes_received` bytes of `piece`: when that is more than it reported
  // before, its lease runs until now + lease_ttl again. NOT_FOUND if it holds no lease on it.
  absl::Status Renew(WorkerId worker, uint32_t piece, uint64_t bytes_received, absl::Time now);
  // `worker` verified and wrote `piece`: LEASED -> VERIFIED. Returns the other holders (the
  // losers of an endgame race), who must be sent RevokeLeases. FAILED_PRECONDITION when the
  // worker holds no lease on it (never leased, expired, revoked, or already verified):
  // the caller ignores it.
  absl::StatusOr<std::vector<WorkerId>> PieceDone(WorkerId worker, uint32_t piece);
  // `worker` gives `piece` back without it. The piece is NEEDED again once no one holds it.
  // kHashMismatch counts towards hash_failures(). NOT_FOUND if it held no lease on it.
  absl::Status PieceFailed(WorkerId worker, uint32_t piece, FailReason reason);
  // Takes back every lease whose deadline is <= now. A piece left without holders is NEEDED.
  std::vector<ExpiredLease> ExpireLeases(absl::Time now);
  // The worker is gone: takes back all its leases and forgets its peers (as RemovePeer for
  // each). Returns the pieces it held.
  std::vector<uint32_t> ReleaseWorker(WorkerId worker);

  // Bad pieces and bans are the PeerPool's: it owns the peers (PeerPool::RecordBadPiece).

 private:
  // One worker's peers, and what any of them has.
  struct WorkerPeers {
    absl::flat_hash_map<std::string, bt::Bitfield> peers;
    // The OR of `peers`' bitfields. A bitfield ORs into it a word at a time and a have sets
    // a bit; a removal (a peer gone, or a bitfield replaced by one that lacks some of the
    // old bits) cannot be undone that way, so it only marks the union stale and the next
    // Grant rebuilds it.
    bt::Bitfield any;
    bool stale = false;
    // Set when a Grant found nothing NEEDED in `any`, at needed_epoch_ == none_needed_epoch:
    // the next Grants skip the search until a piece becomes NEEDED again (the epoch moves)
    // or `any` gains a NEEDED piece (cleared). A worker whose peers have only what is
    // already verified asks again at every have; this keeps that O(1).
    bool none_needed = false;
    uint64_t none_needed_epoch = 0;
  };
  // The leases on one piece; one holder except in endgame.
  using Holders = absl::InlinedVector<Holder, 1>;

  bool InRange(uint32_t piece) const { return piece < num_pieces(); }
  // Holder of `piece` for `worker`, or nullptr.
  Holder* FindHolder(uint32_t piece, WorkerId worker);
  // Removes `worker` from `piece`'s holders; the piece goes back to NEEDED when none remain.
  void DropHolder(uint32_t piece, WorkerId worker);
  void SetNeeded(uint32_t piece);
  void AddLease(uint32_t piece, WorkerId worker, bool endgame, absl::Time now);

  // Availability: replaces what one peer contributes, `before` (nullptr: no peer yet) by
  // `after` (nullptr: the peer leaves). A seeder counts in seeds_, any other peer per piece
  // (Recount).
  void CountPeer(const bt::Bitfield* before, const bt::Bitfield* after);
  // Per piece, partial -= 1 where only `before` is set, += 1 where only `after` is (words of
  // a bitfield; an empty span is all zero); only the words where the two differ are visited.
  void Recount(absl::Span<const uint64_t> before, absl::Span<const uint64_t> after);
  // The same for one word, `w`, moving each NEEDED piece to its new bucket (`move`), or
  // only counting and leaving the buckets to RebuildBuckets.
  void AdjustWord(size_t w, uint64_t up, uint64_t down, bool move);
  // Puts a NEEDED piece into (takes it out of) the bucket of its availability, where
  // rarest-first finds it.
  void BucketInsert(uint32_t piece);
  void BucketErase(uint32_t piece);
  // Makes buckets_[level] exist.
  void AddLevels(uint32_t level);
  // Sorts every NEEDED piece into its bucket again, in one pass.
  void RebuildBuckets();
  // The lowest level >= `from` whose bucket is not empty; buckets_.size() if none.
  size_t NextLevel(size_t from) const;
  // Recomputes a stale union from the worker's peers.
  void Rebuild(WorkerPeers& w);

  void GrantNeeded(WorkerId worker, const bt::Bitfield& have, uint32_t max, absl::Time now,
                   std::vector<LeaseGrant>* out);
  // GrantNeeded's fallback for a worker whose peers have few of the rarest pieces: one pass
  // over the words of have & NEEDED, keeping the `max` rarest.
  void GrantByScan(WorkerId worker, const bt::Bitfield& have, uint32_t max, absl::Time now,
                   std::vector<LeaseGrant>* out);
  void GrantEndgame(WorkerId worker, const bt::Bitfield& have, uint32_t max, absl::Time now,
                    std::vector<LeaseGrant>* out);

  const bt::PieceLayout layout_;
  const Options options_;
  std::mt19937_64 rng_;

  // A piece's state is where its bit is: set in needed_ (NEEDED), set in verified_
  // (VERIFIED), or in neither (LEASED, and then a key of leased_).
  bt::Bitfield needed_;
  bt::Bitfield verified_;
  // Per LEASED piece (and only those), its holders, never empty: expiry and endgame walk the
  // leases without a scan of every piece.
  absl::flat_hash_map<uint32_t, Holders> leased_;
  absl::flat_hash_map<WorkerId, absl::flat_hash_set<uint32_t>> by_worker_;
  uint64_t verified_bytes_ = 0;
  uint32_t hash_failures_ = 0;

  // Per piece: how many peers other than seeders have it, and where it sits in its bucket.
  // One struct, so that a bucket move touches one cache line of it, not two.
  struct Rank {
    uint32_t partial = 0;
    // Index in buckets_[partial]; meaningful only while the piece is NEEDED.
    uint32_t pos = 0;
  };
  // availability(p) == seeds_ + rank_[p].partial: a seeder (a peer with every piece, the
  // common case) adds to every piece alike, so it is one count, and its bitfield costs
  // nothing per piece; it changes no piece's rank either.
  uint32_t seeds_ = 0;
  std::vector<Rank> rank_;
  // Rarest first without a scan: buckets_[a] holds, in no particular order, exactly the
  // NEEDED pieces p with rank_[p].partial == a, p at index rank_[p].pos. A change of
  // availability moves a NEEDED piece to the neighbouring bucket (swap with the last, pop,
  // push: O(1)); a grant walks the buckets from the lowest. Bit a % 64 of nonempty_[a / 64]
  // is set exactly when buckets_[a] is not empty, so empty levels are skipped 64 at a time.
  std::vector<std::vector<uint32_t>> buckets_;
  std::vector<uint64_t> nonempty_;
  // Moves each time a piece becomes NEEDED again (WorkerPeers::none_needed).
  uint64_t needed_epoch_ = 0;

  // Every bitfield here has num_pieces() bits (SetPeerBitfield checks).
  absl::flat_hash_map<WorkerId, WorkerPeers> peers_;
  size_t num_peers_ = 0;
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_PIECE_LEDGER_H_
