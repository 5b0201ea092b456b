// The coordinator's notion of "now", injected so that tests can move time by hand: lease
// deadlines, heartbeat liveness and the announce schedule all read a Clock, never absl::Now()
// directly. Waiting itself (the ticker's period, a WatchJob stream's second) stays real time;
// it only decides how often the clock is looked at.
//
//   coordinator::FakeClock clock(absl::FromUnixSeconds(1000));
//   options.clock = &clock;
//   ...
//   clock.Advance(absl::Seconds(11));  // every lease granted so far is now past its TTL
#ifndef SWARM_COORDINATOR_CLOCK_H_
#define SWARM_COORDINATOR_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace swarm::coordinator {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;

  // The process-wide wall clock; never deleted.
  static Clock* Real();
};

class RealClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
};

inline Clock* Clock::Real() {
  static RealClock* clock = new RealClock();
  return clock;
}

// A clock that stands still until told to move. Thread-safe: tests advance it while the
// server's threads read it.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'000'000)) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_CLOCK_H_
