#include "peer_svc/piece_checker.h"

#include <utility>

namespace swarm::peer_svc {

PieceChecker::PieceChecker(Check check, Report report, size_t batch)
    : check_(std::move(check)), report_(std::move(report)), batch_(batch < 1 ? 1 : batch) {}

PieceChecker::~PieceChecker() { Stop(); }

void PieceChecker::Add(absl::Span<const uint32_t> pieces) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.insert(queue_.end(), pieces.begin(), pieces.end());
  if (!started_ && !queue_.empty()) {
    started_ = true;
    thread_ = std::thread([this] { Run(); });
  }
}

size_t PieceChecker::pending() const {
  absl::MutexLock lock(&mu_);
  return queue_.size() + in_progress_;
}

void PieceChecker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

void PieceChecker::Run() {
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
  for (;;) {
    std::vector<uint32_t> pieces;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      while (!queue_.empty() && pieces.size() < batch_) {
        pieces.push_back(queue_.front());
        queue_.pop_front();
      }
      in_progress_ = pieces.size();
    }
    std::vector<uint32_t> verified, missing;
    for (uint32_t p : pieces) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
      }
      (check_(p) ? verified : missing).push_back(p);
    }
    report_(std::move(verified), std::move(missing));
    absl::MutexLock lock(&mu_);
    in_progress_ = 0;
  }
}

}  // namespace swarm::peer_svc
