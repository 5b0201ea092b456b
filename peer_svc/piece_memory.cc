#include "peer_svc/piece_memory.h"

#include <algorithm>

namespace swarm::peer_svc {

bool PieceMemory::TryReserve(size_t bytes) {
  absl::MutexLock lock(&mu_);
  if (reserved_ > 0 && (bytes > limit_ || reserved_ > limit_ - bytes)) return false;
  reserved_ += bytes;
  peak_ = std::max(peak_, reserved_);
  return true;
}

void PieceMemory::Release(size_t bytes) {
  absl::MutexLock lock(&mu_);
  reserved_ -= std::min(bytes, reserved_);
}

size_t PieceMemory::reserved() const {
  absl::MutexLock lock(&mu_);
  return reserved_;
}

size_t PieceMemory::peak() const {
  absl::MutexLock lock(&mu_);
  return peak_;
}

}  // namespace swarm::peer_svc
