#include "peer_svc/piece_cache.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace swarm::peer_svc {

void PieceCache::Put(uint32_t piece, std::string bytes) {
  absl::MutexLock lock(&mu_);
  if (auto it = index_.find(piece); it != index_.end()) {
    bytes_ -= it->second->second.size();
    order_.erase(it->second);
    index_.erase(it);
  }
  if (bytes.size() > max_bytes_) return;
  while (bytes_ + bytes.size() > max_bytes_ && !order_.empty()) {
    bytes_ -= order_.back().second.size();
    index_.erase(order_.back().first);
    order_.pop_back();
  }
  bytes_ += bytes.size();
  order_.emplace_front(piece, std::move(bytes));
  index_[piece] = order_.begin();
}

absl::Status PieceCache::Read(uint32_t piece, uint32_t begin, uint32_t length, char* out) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(piece);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat("piece ", piece, " is no longer held"));
  }
  const std::string& bytes = it->second->second;
  if (static_cast<uint64_t>(begin) + length > bytes.size()) {
    return absl::OutOfRangeError(absl::StrCat("block past the end of piece ", piece));
  }
  std::memcpy(out, bytes.data() + begin, length);
  order_.splice(order_.begin(), order_, it->second);  // used: last to go
  return absl::OkStatus();
}

bool PieceCache::Has(uint32_t piece) const {
  absl::MutexLock lock(&mu_);
  return index_.contains(piece);
}

size_t PieceCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace swarm::peer_svc
