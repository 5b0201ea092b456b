#include "peer_svc/piece_buffer.h"

#include <algorithm>

namespace swarm::peer_svc {

BufferPool::BufferPool(size_t buffer_size, size_t max_idle_bytes)
    : buffer_size_(buffer_size),
      max_idle_(std::max<size_t>(2, max_idle_bytes / std::max<size_t>(1, buffer_size))) {}

std::unique_ptr<char[]> BufferPool::Get() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<char[]> b = std::move(idle_.back());
      idle_.pop_back();
      return b;
    }
  }
  // Uninitialized on purpose: every byte is overwritten by a block before it is read.
  return std::unique_ptr<char[]>(new char[buffer_size_]);
}

void BufferPool::Put(std::unique_ptr<char[]> buffer) {
  if (buffer == nullptr) return;
  absl::MutexLock lock(&mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(buffer));
}

}  // namespace swarm::peer_svc
