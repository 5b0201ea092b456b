// Piece-sized byte buffers that move between threads without copying: a connection assembles
// a piece in one, hands it to the job's writer, and the writer gives it back to the pool for
// the next piece. Reusing buffers keeps the allocator (and the page faults of fresh memory)
// out of the data path. Buffers are page-aligned, so that a whole piece goes to disk (and a
// checked piece comes from it) with O_DIRECT: no copy through the page cache
// (storage::ContentFiles).
//
//   BufferPool pool(layout.piece_length(), 8 << 20, &worker_memory);
//   PieceBuffer b(pool.TryGet(), layout.piece_size(piece));   // null: over budget, later
//   std::memcpy(b.data() + begin, block.data(), block.size());
//   ...                                    // on another thread:
//   Write(b.view()); pool.Put(b.Release());
#ifndef SWARM_PEER_SVC_PIECE_BUFFER_H_
#define SWARM_PEER_SVC_PIECE_BUFFER_H_

#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "peer_svc/piece_memory.h"

namespace swarm::peer_svc {

// Frees a buffer and gives its bytes back to the budget it was taken from, if any.
struct FreeBytes {
  PieceMemory* memory = nullptr;
  size_t reserved = 0;
  void operator()(char* p) const;
};
// A page-aligned byte buffer.
using PieceBytes = std::unique_ptr<char[], FreeBytes>;
// `size` bytes (rounded up to whole pages), page-aligned, uninitialized.
PieceBytes AllocatePieceBytes(size_t size);

// An owned buffer and the length of the piece in it (the buffer may be longer).
class PieceBuffer {
 public:
  PieceBuffer() = default;
  PieceBuffer(PieceBytes bytes, size_t size) : bytes_(std::move(bytes)), size_(size) {}

  char* data() { return bytes_.get(); }
  size_t size() const { return size_; }
  std::string_view view() const { return std::string_view(bytes_.get(), size_); }
  explicit operator bool() const { return bytes_ != nullptr; }
  PieceBytes Release() { return std::move(bytes_); }

 private:
  PieceBytes bytes_;
  size_t size_ = 0;
};

// Buffers of one size (a torrent's piece length). Thread-safe.
class BufferPool {
 public:
  // Keeps at most `max_idle_bytes` of idle buffers (at least two), frees the rest. New
  // buffers are taken from `memory` when given (it must outlive every buffer).
  explicit BufferPool(size_t buffer_size, size_t max_idle_bytes = 8u << 20,
                      PieceMemory* memory = nullptr);

  size_t buffer_size() const { return buffer_size_; }
  // An idle buffer, or a new one; null when a new one would pass the memory budget. Its
  // contents are garbage.
  PieceBytes TryGet();
  // Gives a buffer (of buffer_size bytes, from Get) back.
  void Put(PieceBytes buffer);

 private:
  const size_t buffer_size_;
  const size_t max_idle_;
  PieceMemory* const memory_;
  absl::Mutex mu_;
  std::vector<PieceBytes> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PIECE_BUFFER_H_
