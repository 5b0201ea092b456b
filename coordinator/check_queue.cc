#include "coordinator/check_queue.h"

#include <algorithm>

namespace swarm::coordinator {

CheckQueue::CheckQueue(uint32_t num_pieces, absl::Duration ttl) : ttl_(ttl), queued_(num_pieces) {}

void CheckQueue::Add(const bt::Bitfield& pieces) {
  if (pieces.size() != queued_.size()) return;
  for (uint32_t p = pieces.NextSet(0); p < pieces.size(); p = pieces.NextSet(p + 1)) {
    if (!held_.contains(p)) queued_.Set(p);
  }
  cursor_ = 0;
}

std::vector<uint32_t> CheckQueue::Grant(WorkerId worker, uint32_t max, absl::Time now) {
  std::vector<uint32_t> out;
  uint32_t p = queued_.NextSet(cursor_);
  while (out.size() < max && p < queued_.size()) {
    queued_.Clear(p);
    held_[p] = worker;
    out.push_back(p);
    p = queued_.NextSet(p + 1);
  }
  cursor_ = std::min(p, queued_.size());
  if (!out.empty()) {
    Batch& b = batches_[worker];
    b.deadline = now + ttl_;
    b.pieces.insert(b.pieces.end(), out.begin(), out.end());
  }
  return out;
}

bool CheckQueue::Finish(WorkerId worker, uint32_t piece, absl::Time now) {
  auto it = held_.find(piece);
  if (it == held_.end() || it->second != worker) return false;
  held_.erase(it);
  auto b = batches_.find(worker);
  if (b != batches_.end()) {
    b->second.deadline = now + ttl_;
    // Keeps the list from growing for ever on a long check.
    if (b->second.pieces.size() > 4096) {
      std::vector<uint32_t>& v = b->second.pieces;
      v.erase(std::remove_if(v.begin(), v.end(),
                             [&](uint32_t p) {
                               auto h = held_.find(p);
                               return h == held_.end() || h->second != worker;
                             }),
              v.end());
    }
  }
  return true;
}

void CheckQueue::ReleaseWorker(WorkerId worker) {
  auto b = batches_.find(worker);
  if (b == batches_.end()) return;
  for (uint32_t p : b->second.pieces) {
    auto h = held_.find(p);
    if (h == held_.end() || h->second != worker) continue;
    held_.erase(h);
    queued_.Set(p);
    cursor_ = std::min(cursor_, p);
  }
  batches_.erase(b);
}

size_t CheckQueue::Expire(absl::Time now) {
  std::vector<WorkerId> lapsed;
  for (const auto& [worker, batch] : batches_) {
    if (batch.deadline <= now) lapsed.push_back(worker);
  }
  const uint32_t before = queued_.Count();
  for (WorkerId w : lapsed) ReleaseWorker(w);
  return queued_.Count() - before;
}

}  // namespace swarm::coordinator
