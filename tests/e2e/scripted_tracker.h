// An HTTP tracker whose answers a test scripts: down (connections refused) until told
// otherwise, then a failure reason, garbage, or a list of peers. For the tracker fault tests;
// opentracker stays the tracker of every test that needs a real one.
//
//   SWARM_ASSIGN_OR_RETURN(auto tracker, ScriptedTracker::Start());  // down
//   ... point a torrent at tracker->announce_url() ...
//   tracker->Answer(TrackerAnswer::kGarbage);
//   tracker->Answer(TrackerAnswer::kPeers, {{"127.0.0.2", 6881}});
#ifndef SWARM_TESTS_E2E_SCRIPTED_TRACKER_H_
#define SWARM_TESTS_E2E_SCRIPTED_TRACKER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace swarm::testing {

enum class TrackerAnswer {
  kFailureReason,  // d14:failure reason...e, as a tracker that refuses the torrent
  kGarbage,        // an HTML page, not bencode
  kPeers,          // compact peer lists ("peers", and "peers6" for IPv6) and a 30 s interval
};

class ScriptedTracker {
 public:
  // Bound to a free port on 127.0.0.1 but not listening yet: announces are refused.
  static absl::StatusOr<std::unique_ptr<ScriptedTracker>> Start();
  ~ScriptedTracker();

  // Answers every announce from now on this way (and starts listening, the first time).
  void Answer(TrackerAnswer answer, std::vector<std::pair<std::string, int>> peers = {});

  std::string announce_url() const;
  // Announces answered so far.
  int announces() const { return announces_.load(); }
  static constexpr const char* kFailureReason = "unregistered torrent";

 private:
  ScriptedTracker() = default;
  void AcceptLoop();
  std::string Body();

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> announces_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  TrackerAnswer answer_ ABSL_GUARDED_BY(mu_) = TrackerAnswer::kGarbage;
  std::vector<std::pair<std::string, int>> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::testing

#endif  // SWARM_TESTS_E2E_SCRIPTED_TRACKER_H_
