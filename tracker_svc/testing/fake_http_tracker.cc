#include "tracker_svc/testing/fake_http_tracker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace swarm::tracker_svc::testing {
namespace {

constexpr size_t kMaxRequestBytes = 64 * 1024;

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away: fine for a test server
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeHttpTracker>> FakeHttpTracker::Start(Handler handler) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status s = Errno("bind/listen 127.0.0.1:0");
    close(fd);
    return s;
  }
  int wake[2];
  if (pipe2(wake, O_CLOEXEC) != 0) {
    close(fd);
    return Errno("pipe2");
  }
  return std::unique_ptr<FakeHttpTracker>(
      new FakeHttpTracker(std::move(handler), fd, ntohs(addr.sin_port), wake[0], wake[1]));
}

FakeHttpTracker::FakeHttpTracker(Handler handler, int listen_fd, int port, int wake_read,
                                 int wake_write)
    : handler_(std::move(handler)),
      listen_fd_(listen_fd),
      port_(port),
      wake_read_(wake_read),
      wake_write_(wake_write) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeHttpTracker::~FakeHttpTracker() {
  stopping_.Notify();
  (void)!write(wake_write_, "x", 1);
  acceptor_.join();
  std::vector<std::thread> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
  close(listen_fd_);
  close(wake_read_);
  close(wake_write_);
}

std::string FakeHttpTracker::url(std::string_view path) const {
  return absl::StrCat("http://127.0.0.1:", port_, absl::string_view(path.data(), path.size()));
}

std::vector<std::string> FakeHttpTracker::targets() const {
  absl::MutexLock lock(&mu_);
  return targets_;
}

void FakeHttpTracker::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (stopping_.HasBeenNotified()) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    absl::MutexLock lock(&mu_);
    connections_.emplace_back([this, conn] {
      Serve(conn);
      close(conn);
    });
  }
}

void FakeHttpTracker::Serve(int fd) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos) {
    if (request.size() > kMaxRequestBytes) return;
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (stopping_.HasBeenNotified()) return;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  // "GET /target HTTP/1.1"
  size_t sp1 = request.find(' ');
  size_t sp2 = sp1 == std::string::npos ? sp1 : request.find(' ', sp1 + 1);
  Request req;
  if (sp2 != std::string::npos) req.target = request.substr(sp1 + 1, sp2 - sp1 - 1);
  {
    absl::MutexLock lock(&mu_);
    targets_.push_back(req.target);
  }
  Response resp = handler_(req);
  if (resp.never_answer) {
    stopping_.WaitForNotification();
    return;
  }
  if (resp.delay > absl::ZeroDuration() && stopping_.WaitForNotificationWithTimeout(resp.delay)) {
    return;
  }
  std::string head = absl::StrCat("HTTP/1.1 ", resp.status, " Fake\r\nConnection: close\r\n",
                                  "Content-Type: text/plain\r\n");
  if (resp.send_content_length)
    absl::StrAppend(&head, "Content-Length: ", resp.body.size(), "\r\n");
  if (!resp.location.empty()) absl::StrAppend(&head, "Location: ", resp.location, "\r\n");
  head += "\r\n";
  WriteAll(fd, head);
  WriteAll(fd, resp.body);
  shutdown(fd, SHUT_WR);
}

}  // namespace swarm::tracker_svc::testing
