// The pieces a streaming worker (one that cannot see the job's output folder) still holds
// after streaming them to a writer: the only ones it can upload. Bounded in bytes; the piece
// used longest ago goes first. Thread-safe: connections read it while the writer adds.
//
//   PieceCache cache(64 << 20);
//   cache.Put(7, std::string(bytes));
//   absl::Status s = cache.Read(7, begin, length, out);   // NOT_FOUND once evicted
#ifndef SWARM_PEER_SVC_PIECE_CACHE_H_
#define SWARM_PEER_SVC_PIECE_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace swarm::peer_svc {

class PieceCache {
 public:
  explicit PieceCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Keeps `bytes` as piece `piece`, evicting the least recently used pieces to make room.
  // A piece larger than the whole cache is not kept.
  void Put(uint32_t piece, std::string bytes);
  // Copies [begin, begin + length) of the piece to `out` (and marks it used). NOT_FOUND when
  // the piece is not held, OUT_OF_RANGE when the range is not inside it.
  absl::Status Read(uint32_t piece, uint32_t begin, uint32_t length, char* out);
  bool Has(uint32_t piece) const;
  size_t bytes() const;

 private:
  using Entry = std::pair<uint32_t, std::string>;

  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  // Most recently used first.
  std::list<Entry> order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint32_t, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PIECE_CACHE_H_
