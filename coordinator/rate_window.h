// A rate over a sliding window of (time, running total) samples: a job's download rate (of
// verified bytes) and its upload rate (the bytes its workers sent). Pure: "now" is an
// argument. Not thread-safe.
//
//   RateWindow rate(absl::Seconds(5));
//   rate.Reset(now, verified_bytes);
//   rate.Add(now, verified_bytes);                 // every tick
//   double bytes_per_s = rate.Rate(now, verified_bytes);
#ifndef SWARM_COORDINATOR_RATE_WINDOW_H_
#define SWARM_COORDINATOR_RATE_WINDOW_H_

#include <cstdint>
#include <deque>
#include <utility>

#include "absl/time/time.h"

namespace swarm::coordinator {

class RateWindow {
 public:
  explicit RateWindow(absl::Duration window) : window_(window) {}

  // Starts over from one sample.
  void Reset(absl::Time now, uint64_t total) {
    samples_.clear();
    samples_.emplace_back(now, total);
  }
  void Add(absl::Time now, uint64_t total) {
    samples_.emplace_back(now, total);
    // Keep the newest sample at or before the window's start, so the rate spans the window.
    while (samples_.size() > 2 && samples_[1].first <= now - window_) samples_.pop_front();
  }
  // Bytes per second from the oldest sample kept to (now, total); 0 without progress.
  double Rate(absl::Time now, uint64_t total) const {
    if (samples_.empty()) return 0;
    const auto& [t0, total0] = samples_.front();
    const double seconds = absl::ToDoubleSeconds(now - t0);
    if (seconds <= 0 || total <= total0) return 0;
    return static_cast<double>(total - total0) / seconds;
  }

 private:
  const absl::Duration window_;
  std::deque<std::pair<absl::Time, uint64_t>> samples_;
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_RATE_WINDOW_H_
