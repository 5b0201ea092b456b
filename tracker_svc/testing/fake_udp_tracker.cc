#include "tracker_svc/testing/fake_udp_tracker.h"

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

using bt::tracker::UdpAction;
using bt::tracker::UdpRequest;

absl::StatusOr<std::unique_ptr<FakeUdpTracker>> FakeUdpTracker::Start(Handler handler) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int wake[2];
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      pipe2(wake, O_CLOEXEC) != 0) {
    absl::Status s = absl::InternalError(absl::StrCat("bind 127.0.0.1:0: ", std::strerror(errno)));
    close(fd);
    return s;
  }
  return std::unique_ptr<FakeUdpTracker>(
      new FakeUdpTracker(std::move(handler), fd, ntohs(addr.sin_port), wake[0], wake[1]));
}

FakeUdpTracker::FakeUdpTracker(Handler handler, int fd, int port, int wake_read, int wake_write)
    : handler_(std::move(handler)),
      fd_(fd),
      port_(port),
      wake_read_(wake_read),
      wake_write_(wake_write) {
  thread_ = std::thread([this] { Loop(); });
}

FakeUdpTracker::~FakeUdpTracker() {
  (void)!write(wake_write_, "x", 1);
  thread_.join();
  close(fd_);
  close(wake_read_);
  close(wake_write_);
}

FakeUdpTracker::Handler FakeUdpTracker::Working(bt::tracker::AnnounceReply reply,
                                                uint64_t connection_id,
                                                bt::tracker::ScrapeCounts scrape) {
  return [reply, connection_id, scrape](const UdpRequest& req) -> std::vector<std::string> {
    switch (req.action) {
      case UdpAction::kConnect:
        return {bt::tracker::EncodeUdpConnectResponse(req.transaction_id, connection_id)};
      case UdpAction::kAnnounce: {
        if (req.connection_id != connection_id) return {};  // as real trackers do: drop it
        auto packet = bt::tracker::EncodeUdpAnnounceResponse(req.transaction_id, reply,
                                                             bt::tracker::IpFamily::kV4);
        if (!packet.ok()) return {};
        return {*packet};
      }
      case UdpAction::kScrape: {
        if (req.connection_id != connection_id) return {};
        std::vector<bt::tracker::ScrapeCounts> counts;
        for (const std::string& hash : req.info_hashes) {
          bt::tracker::ScrapeCounts c = scrape;
          c.info_hash = hash;
          counts.push_back(c);
        }
        return {bt::tracker::EncodeUdpScrapeResponse(req.transaction_id, counts)};
      }
      case UdpAction::kError:
        break;
    }
    return {};
  };
}

std::string FakeUdpTracker::url() const {
  return absl::StrCat("udp://127.0.0.1:", port_, "/announce");
}

std::vector<UdpRequest> FakeUdpTracker::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int FakeUdpTracker::count(UdpAction action) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const UdpRequest& r : requests_) n += r.action == action;
  return n;
}

void FakeUdpTracker::Loop() {
  std::string buf(65536, '\0');
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (!(fds[0].revents & POLLIN)) continue;
    sockaddr_storage from;
    socklen_t from_len = sizeof(from);
    ssize_t n =
        recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) continue;
    absl::StatusOr<UdpRequest> req =
        bt::tracker::DecodeUdpRequest(std::string_view(buf.data(), static_cast<size_t>(n)));
    if (!req.ok()) continue;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(*req);
    }
    for (const std::string& packet : handler_(*req)) {
      sendto(fd_, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
    }
  }
}

}  // namespace swarm::tracker_svc::testing
