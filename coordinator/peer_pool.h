// The swarm peers of one job, as trackers hand them out, and which workers each is given to.
//
// A peer goes to one worker at a time on a host: most clients refuse a second connection from
// one IP, and two connections from one machine only split the peer's upload. Workers on
// different hosts (other addresses) may share a peer, but only once the free peers are gone:
// a worker with room and nothing free to take is given the least shared peers, so that with
// fewer peers than workers every worker still downloads. When a worker's connection ends the
// peer comes back after a backoff that doubles with each failure in a row; a banned peer is
// never given out again; a dead worker's peers come back at once (they did nothing wrong).
// The pool is also where bans are decided: a worker's report that the peer misbehaved
// (PeerClosed.banned) or a third piece from it that failed its hash. coordinator/STATE.md
// has the peer states.
//
// Pure like PieceLedger: "now" is an argument, no threads, no I/O. Not thread-safe.
//
//   PeerPool pool;
//   pool.Add({*bt::Endpoint::Make("10.0.0.1", 6881), *bt::Endpoint::Make("::1", 51413)});
//   for (const bt::Endpoint& p : pool.Take(worker, 8, now, own_keys, "10.0.0.7")) ...  // AddPeers
//   pool.Release(worker, "10.0.0.1:6881", now);                // its PeerClosed
//   if (pool.RecordBadPiece("10.0.0.1:6881")) ...              // banned: forget its pieces
#ifndef SWARM_COORDINATOR_PEER_POOL_H_
#define SWARM_COORDINATOR_PEER_POOL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bt/endpoint.h"
#include "coordinator/worker_id.h"

namespace swarm::coordinator {

enum class PeerState {
  kUnknown,   // not in the pool
  kKnown,     // free to give out
  kAssigned,  // given to one worker or more
  kBackoff,   // free again at some later time
  kBanned,    // never given out again
};

class PeerPool {
 public:
  struct Options {
    // Backoff after the first failure in a row; doubles with each further one.
    absl::Duration base_backoff = absl::Seconds(5);
    absl::Duration max_backoff = absl::Minutes(5);
    // Most peers remembered (banned ones included); further new peers replace failed ones,
    // or are dropped.
    size_t max_peers = 5000;
    // A peer that delivered this many pieces failing their hash is banned.
    int ban_after_bad_pieces = 3;
  };

  PeerPool() : PeerPool(Options()) {}
  explicit PeerPool(Options options) : options_(options) {}

  // Adds new peers (already validated); peers already known, banned ones included, are left
  // as they are, and peers at a banned address are not added. Beyond max_peers a new peer
  // replaces one that failed and is held by nobody, or is dropped. Returns how many were
  // added.
  size_t Add(absl::Span<const bt::Endpoint> peers);

  // Gives up to `max` peers to `worker`, which runs on `host` (its IP address; empty when
  // unknown, as for workers on Unix sockets beside the coordinator). Free peers first: those
  // with the fewest failures in a row, then the longest known. Then, for a worker with a
  // host, peers held only by workers on other known hosts, the least shared first. Keys in
  // `exclude` (our own workers' listening addresses) are skipped.
  std::vector<bt::Endpoint> Take(WorkerId worker, size_t max, absl::Time now,
                                 const absl::flat_hash_set<std::string>& exclude = {},
                                 const std::string& host = {});

  // `worker`'s connection to `key` ended: the peer is given out again at now + backoff (to
  // new takers; other holders keep it). Returns false (and changes nothing) unless the peer
  // was given to that worker.
  bool Release(WorkerId worker, const std::string& key, absl::Time now);
  // The worker got as far as the peer's bitfield: its failures in a row start again at 0.
  void MarkConnected(const std::string& key);
  // Never give `key` out again (it is remembered even if unknown so far, so that a later
  // tracker answer cannot bring it back): a peer that did nothing wrong but is of no use
  // (ourselves, another torrent's).
  void Ban(const std::string& key);
  // Ban, for every port of `key`'s IP address: a peer that misbehaved could come back from
  // another port.
  void BanAddress(const std::string& key);
  // The worker is gone: every peer it held is free at once. Returns their keys.
  std::vector<std::string> ReleaseWorker(WorkerId worker);

  // Counts one piece from `key` that failed its hash (counted whether or not the peer is in
  // the pool: it may have connected to the worker by itself; and per IP address, whatever
  // its port). The ban_after_bad_pieces-th bans it (as BanAddress) and returns true; every other
  // call returns false, so the caller forgets the peer's pieces once.
  bool RecordBadPiece(const std::string& key);
  // Banned by Ban or by its bad pieces: its reports are refused, it is never given out.
  bool IsBanned(const std::string& key) const;
  int bad_pieces(const std::string& key) const;

  PeerState state(const std::string& key, absl::Time now) const;
  // The first worker `key` is given to, 0 if none.
  WorkerId assigned_to(const std::string& key) const;
  // Peers that are not banned.
  size_t known() const { return entries_.size() - banned_; }
  // Their addresses.
  std::vector<bt::Endpoint> KnownPeers() const;
  // Peers banned (entries; an address banned whatever the port counts once per port seen).
  size_t banned() const { return banned_; }
  // Peers given to one worker or more.
  size_t assigned() const { return assigned_; }
  // Free peers at `now` (not banned, given to no worker, not backing off, not in `exclude`).
  size_t available(absl::Time now, const absl::flat_hash_set<std::string>& exclude = {}) const;
  // Peers `worker` holds.
  size_t assigned_to_worker(WorkerId worker) const;

 private:
  struct Holder {
    WorkerId worker;
    std::string host;
  };
  struct Entry {
    bt::Endpoint addr;
    std::string key;
    std::vector<Holder> holders;
    int failures = 0;
    absl::Time free_at = absl::InfinitePast();
    bool banned = false;
  };

  // Whether a worker on `host` may share `e` with its holders: every one of them is on
  // another known host.
  static bool Shareable(const Entry& e, const std::string& host);
  // Removes `worker` from `e`'s holders; false if it was not one.
  bool DropHolder(Entry& e, WorkerId worker);
  // Marks `e` banned (and takes it from its holders), once.
  void BanEntry(Entry& e);

  const Options options_;
  // In the order first seen; Take prefers older entries among equals.
  std::vector<Entry> entries_;
  absl::flat_hash_map<std::string, size_t> index_;
  size_t banned_ = 0;
  size_t assigned_ = 0;
  // Pieces that failed their hash, per IP address; kept apart from entries_ so that
  // counting one does not add the peer to what Take gives out.
  absl::flat_hash_map<std::string, int> bad_pieces_;
  // Addresses banned by BanAddress, whatever the port.
  absl::flat_hash_set<std::string> banned_ips_;
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_PEER_POOL_H_
