// One memory budget for the piece buffers of every job of a worker: the pieces its
// connections are assembling, the finished ones waiting to be written, and the idle buffers
// kept for reuse. Without it 50 connections fetching 256 MiB pieces could ask for tens of
// gigabytes. A connection takes its buffer before it asks for a piece, and asks later when
// the budget is spent; every buffer gives its bytes back when it is freed, whoever frees it.
// Thread-safe.
//
//   PieceMemory memory(512 << 20);
//   BufferPool pool(piece_length, 8 << 20, &memory);
//   if (PieceBytes b = pool.TryGet()) ...   // else: later
#ifndef SWARM_PEER_SVC_PIECE_MEMORY_H_
#define SWARM_PEER_SVC_PIECE_MEMORY_H_

#include <cstddef>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace swarm::peer_svc {

class PieceMemory {
 public:
  explicit PieceMemory(size_t limit_bytes) : limit_(limit_bytes) {}

  // Reserves `bytes`; false when the reservations would pass the limit. While nothing is
  // reserved anything fits, so a piece longer than the whole budget still downloads (alone).
  bool TryReserve(size_t bytes);
  void Release(size_t bytes);

  size_t limit() const { return limit_; }
  size_t reserved() const;
  // The most ever reserved at once, for tests and logs.
  size_t peak() const;

 private:
  const size_t limit_;
  mutable absl::Mutex mu_;
  size_t reserved_ ABSL_GUARDED_BY(mu_) = 0;
  size_t peak_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PIECE_MEMORY_H_
