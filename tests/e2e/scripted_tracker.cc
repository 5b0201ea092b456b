#include "tests/e2e/scripted_tracker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace swarm::testing {

absl::StatusOr<std::unique_ptr<ScriptedTracker>> ScriptedTracker::Start() {
  std::unique_ptr<ScriptedTracker> tracker(new ScriptedTracker());
  tracker->fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (tracker->fd_ < 0 || bind(tracker->fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      getsockname(tracker->fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("scripted tracker: ", std::strerror(errno)));
  }
  tracker->port_ = ntohs(addr.sin_port);
  return tracker;
}

ScriptedTracker::~ScriptedTracker() {
  stopping_ = true;
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (fd_ >= 0) close(fd_);
}

std::string ScriptedTracker::announce_url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/announce");
}

void ScriptedTracker::Answer(TrackerAnswer answer, std::vector<std::pair<std::string, int>> peers) {
  {
    absl::MutexLock lock(&mu_);
    answer_ = answer;
    peers_ = std::move(peers);
  }
  if (!acceptor_.joinable() && listen(fd_, 16) == 0) {
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
}

std::string ScriptedTracker::Body() {
  absl::MutexLock lock(&mu_);
  switch (answer_) {
    case TrackerAnswer::kFailureReason:
      return absl::StrCat("d14:failure reason", std::strlen(kFailureReason), ":", kFailureReason,
                          "e");
    case TrackerAnswer::kGarbage:
      return "<html><body>502 Bad Gateway</body></html>";
    case TrackerAnswer::kPeers: {
      // IPv4 peers in "peers", IPv6 ones in "peers6" (BEP 7), both compact.
      std::string compact, compact6;
      for (const auto& [ip, port] : peers_) {
        in6_addr a6{};
        in_addr a{};
        if (inet_pton(AF_INET6, ip.c_str(), &a6) == 1) {
          compact6.append(reinterpret_cast<const char*>(&a6), 16);
          compact6 += static_cast<char>(port >> 8);
          compact6 += static_cast<char>(port & 0xff);
          continue;
        }
        inet_pton(AF_INET, ip.c_str(), &a);
        compact.append(reinterpret_cast<const char*>(&a.s_addr), 4);
        compact += static_cast<char>(port >> 8);
        compact += static_cast<char>(port & 0xff);
      }
      return absl::StrCat("d8:intervali30e5:peers", compact.size(), ":", compact, "6:peers6",
                          compact6.size(), ":", compact6, "e");
    }
  }
  return "";
}

void ScriptedTracker::AcceptLoop() {
  while (!stopping_) {
    const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    timeval tv{5, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string request;
    char buf[4096];
    ssize_t n;
    while (request.find("\r\n\r\n") == std::string::npos &&
           (n = read(conn, buf, sizeof(buf))) > 0) {
      request.append(buf, static_cast<size_t>(n));
    }
    const std::string body = Body();
    const std::string response =
        absl::StrCat("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
                     "\r\n\r\n", body);
    send(conn, response.data(), response.size(), MSG_NOSIGNAL);
    close(conn);
    ++announces_;
  }
}

}  // namespace swarm::testing
