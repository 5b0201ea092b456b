// A tiny HTTP/1.1 server on 127.0.0.1 (port 0) for tests of tracker clients: every request is
// answered by a handler the test supplies, including answers that are slow, never come, are
// redirects, lack a Content-Length, or are huge. One thread per connection; the destructor
// wakes and joins them all.
//
//   auto tracker = FakeHttpTracker::Start([](const FakeHttpTracker::Request& r) {
//     return FakeHttpTracker::Response{.body = "d8:intervali60e5:peers0:e"};
//   });
//   Announce((*tracker)->url("/announce"));
//   EXPECT_EQ((*tracker)->targets().size(), 1u);
#ifndef SWARM_TRACKER_SVC_TESTING_FAKE_HTTP_TRACKER_H_
#define SWARM_TRACKER_SVC_TESTING_FAKE_HTTP_TRACKER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace swarm::tracker_svc::testing {

class FakeHttpTracker {
 public:
  struct Request {
    std::string target;  // path and query as sent, e.g. "/announce?info_hash=..."
  };
  struct Response {
    int status = 200;
    std::string body;
    std::string location;                         // sent as Location: when non-empty
    bool send_content_length = true;              // false: the body ends when the connection closes
    bool never_answer = false;                    // hold the connection, silent, until destruction
    absl::Duration delay = absl::ZeroDuration();  // wait this long before answering
  };
  using Handler = std::function<Response(const Request&)>;

  static absl::StatusOr<std::unique_ptr<FakeHttpTracker>> Start(Handler handler);
  ~FakeHttpTracker();

  int port() const { return port_; }
  // "http://127.0.0.1:PORT" + path.
  std::string url(std::string_view path = "/announce") const;
  // Targets of the requests received so far, in order.
  std::vector<std::string> targets() const;

 private:
  FakeHttpTracker(Handler handler, int listen_fd, int port, int wake_read, int wake_write);
  void AcceptLoop();
  void Serve(int fd);

  const Handler handler_;
  const int listen_fd_;
  const int port_;
  const int wake_read_;  // readable once stopping: wakes every poll
  const int wake_write_;
  absl::Notification stopping_;
  std::thread acceptor_;
  mutable absl::Mutex mu_;
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> targets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::tracker_svc::testing

#endif  // SWARM_TRACKER_SVC_TESTING_FAKE_HTTP_TRACKER_H_
