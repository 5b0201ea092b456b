#include "peer_svc/piece_checker.h"

#include <utility>

#include "absl/time/time.h"
#include "peer_svc/piece_buffer.h"

namespace swarm::peer_svc {
namespace {

constexpr absl::Duration kReportEvery = absl::Seconds(1);
constexpr absl::Duration kIdle = absl::Seconds(2);

}  // namespace

PieceChecker::PieceChecker(Check check, Report report, size_t buffer_size, int threads,
                           size_t batch)
    : check_(std::move(check)),
      report_(std::move(report)),
      buffer_size_(buffer_size),
      threads_(threads < 1 ? 1 : threads),
      batch_(batch < 1 ? 1 : batch) {}

PieceChecker::~PieceChecker() { Stop(); }

void PieceChecker::Add(absl::Span<const uint32_t> pieces) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.insert(queue_.end(), pieces.begin(), pieces.end());
  if (!started_ && !queue_.empty()) {
    started_ = true;
    for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { Run(); });
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
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  absl::MutexLock lock(&mu_);
  in_progress_ = 0;  // what the threads were checking is dropped with them
}

void PieceChecker::Run() {
  PieceBytes buffer;  // allocated with the first piece, freed when idle
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
  // This thread's results not yet reported.
  Results results;
  absl::Time last_report = absl::Now();
  for (;;) {
    const size_t done = results.size();
    // Results go out when a batch is full, before the thread waits for more work, and at
    // least every second: on a slow disk the coordinator would otherwise take the batch
    // for lost (it lapses without a result for 30 s).
    bool report = false;
    uint32_t piece = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      if (done >= batch_ ||
          (done > 0 && (queue_.empty() || absl::Now() - last_report >= kReportEvery))) {
        report = true;
      } else {
        if (!mu_.AwaitWithTimeout(absl::Condition(&ready), kIdle)) {
          buffer.reset();  // nothing to check for a while: the memory goes back
          continue;
        }
        if (stopping_) return;
        piece = queue_.front();
        queue_.pop_front();
        ++in_progress_;
      }
    }
    if (report) {
      report_(std::move(results));
      results = Results();
      last_report = absl::Now();
      absl::MutexLock lock(&mu_);
      in_progress_ -= done;
      continue;
    }
    if (buffer == nullptr) buffer = AllocatePieceBytes(buffer_size_);
    switch (check_(piece, buffer.get())) {
      case OnDisk::kMatches:
        results.verified.push_back(piece);
        break;
      case OnDisk::kAbsent:
        results.missing.push_back(piece);
        break;
      case OnDisk::kOther:
        results.differing.push_back(piece);
        break;
    }
  }
}

}  // namespace swarm::peer_svc
