// The pieces a job has its workers check on disk (read and SHA-1) before it downloads: those
// no resume record vouches for (resume_plan.h). The coordinator never reads content itself;
// it hands these out as verify leases, a batch per worker, and takes back the results.
//
// A worker's batch lapses as a whole when the worker reports nothing for `ttl` (a stuck
// disk, a worker that died without its stream ending yet): its pieces go to the others.
// Pure, like the ledger: "now" is an argument; the owning Job serializes calls.
//
//   CheckQueue checks(num_pieces, absl::Seconds(30));
//   checks.Add(plan.to_check);
//   for (uint32_t p : checks.Grant(worker, 32, now)) ... // CheckPieces to the worker
//   if (checks.Finish(worker, piece, now)) ...           // its PiecesChecked: a result that counts
//   if (checks.done()) ...                               // every piece checked
#ifndef SWARM_COORDINATOR_CHECK_QUEUE_H_
#define SWARM_COORDINATOR_CHECK_QUEUE_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "bt/bitfield.h"
#include "coordinator/worker_id.h"

namespace swarm::coordinator {

class CheckQueue {
 public:
  CheckQueue(uint32_t num_pieces, absl::Duration ttl);

  // Queues every piece set in `pieces` (a bitfield of num_pieces bits) that is not queued
  // or held already.
  void Add(const bt::Bitfield& pieces);
  // Up to `max` queued pieces for `worker`, lowest first (the disk reads them in order).
  std::vector<uint32_t> Grant(WorkerId worker, uint32_t max, absl::Time now);
  // `worker` reports a result for `piece`: true when it held the piece (the result counts),
  // false for a piece it does not hold (lapsed and granted again, or bogus). Any result
  // keeps the worker's other pieces alive for another ttl.
  bool Finish(WorkerId worker, uint32_t piece, absl::Time now);
  // Puts back the pieces of every worker silent for ttl; returns how many.
  size_t Expire(absl::Time now);
  // The worker is gone: its pieces are queued again.
  void ReleaseWorker(WorkerId worker);

  // Nothing queued and nothing held.
  bool done() const { return queued_.None() && held_.empty(); }
  uint32_t remaining() const { return queued_.Count() + static_cast<uint32_t>(held_.size()); }
  uint32_t queued() const { return queued_.Count(); }
  uint32_t held() const { return static_cast<uint32_t>(held_.size()); }

 private:
  struct Batch {
    absl::Time deadline;
    std::vector<uint32_t> pieces;  // may list pieces already finished
  };
  const absl::Duration ttl_;
  bt::Bitfield queued_;
  // Piece -> the worker checking it.
  absl::flat_hash_map<uint32_t, WorkerId> held_;
  absl::flat_hash_map<WorkerId, Batch> batches_;
  // Where the next Grant starts looking (pieces below it are not queued, unless put back).
  uint32_t cursor_ = 0;
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_CHECK_QUEUE_H_
