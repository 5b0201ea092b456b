// A UDP tracker (BEP 15) on 127.0.0.1 (port 0) for tests: each decoded request goes to a
// handler the test supplies, which returns the datagrams to send back (none: stay silent).
// Working() builds a handler that answers like a healthy tracker.
//
//   auto tracker = FakeUdpTracker::Start(FakeUdpTracker::Working(reply));
//   Announce((*tracker)->url());
//   EXPECT_EQ((*tracker)->count(bt::tracker::UdpAction::kConnect), 1);
#ifndef SWARM_TRACKER_SVC_TESTING_FAKE_UDP_TRACKER_H_
#define SWARM_TRACKER_SVC_TESTING_FAKE_UDP_TRACKER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "bt/tracker/announce.h"
#include "bt/tracker/udp_packet.h"

namespace swarm::tracker_svc::testing {

class FakeUdpTracker {
 public:
  using Handler = std::function<std::vector<std::string>(const bt::tracker::UdpRequest&)>;

  static absl::StatusOr<std::unique_ptr<FakeUdpTracker>> Start(Handler handler);
  ~FakeUdpTracker();

  // Answers connects with `connection_id`, announces with `reply` (IPv4 peers) and scrapes
  // with `scrape` counts for each hash asked.
  static Handler Working(bt::tracker::AnnounceReply reply, uint64_t connection_id = 0x5eed,
                         bt::tracker::ScrapeCounts scrape = {});

  int port() const { return port_; }
  // "udp://127.0.0.1:PORT/announce".
  std::string url() const;
  // Requests decoded so far, in arrival order (undecodable datagrams are dropped).
  std::vector<bt::tracker::UdpRequest> requests() const;
  int count(bt::tracker::UdpAction action) const;

 private:
  FakeUdpTracker(Handler handler, int fd, int port, int wake_read, int wake_write);
  void Loop();

  const Handler handler_;
  const int fd_;
  const int port_;
  const int wake_read_;
  const int wake_write_;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<bt::tracker::UdpRequest> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::tracker_svc::testing

#endif  // SWARM_TRACKER_SVC_TESTING_FAKE_UDP_TRACKER_H_
