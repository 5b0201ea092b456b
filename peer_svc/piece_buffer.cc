#include "peer_svc/piece_buffer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "storage/content_files.h"

namespace swarm::peer_svc {

void FreeBytes::operator()(char* p) const {
  std::free(p);
  if (memory != nullptr) memory->Release(reserved);
}

PieceBytes AllocatePieceBytes(size_t size) {
  constexpr size_t kAlign = storage::kDirectIoAlignment;
  const size_t rounded = std::max<size_t>(kAlign, (size + kAlign - 1) / kAlign * kAlign);
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) {  // as with new: out of memory is the end
    std::fputs("peer_svc: out of memory\n", stderr);
    std::abort();
  }
  return PieceBytes(static_cast<char*>(p));
}

BufferPool::BufferPool(size_t buffer_size, size_t max_idle_bytes, PieceMemory* memory)
    : buffer_size_(buffer_size),
      max_idle_(std::max<size_t>(2, max_idle_bytes / std::max<size_t>(1, buffer_size))),
      memory_(memory) {}

PieceBytes BufferPool::TryGet() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      PieceBytes b = std::move(idle_.back());
      idle_.pop_back();
      return b;
    }
  }
  if (memory_ != nullptr && !memory_->TryReserve(buffer_size_)) return nullptr;
  // Uninitialized on purpose: every byte is overwritten by a block before it is read.
  PieceBytes bytes = AllocatePieceBytes(buffer_size_);
  if (memory_ != nullptr) bytes.get_deleter() = FreeBytes{memory_, buffer_size_};
  return bytes;
}

void BufferPool::Put(PieceBytes buffer) {
  if (buffer == nullptr) return;
  absl::MutexLock lock(&mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(buffer));
}

}  // namespace swarm::peer_svc
