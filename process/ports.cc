#include "process/ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace swarm::process {
namespace {

absl::StatusOr<sockaddr_in> Loopback(const std::string& ip, int port) {
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", ip));
  }
  return addr;
}

}  // namespace

absl::StatusOr<int> PickUnusedPort(int socket_type, const std::string& ip) {
  absl::StatusOr<sockaddr_in> addr = Loopback(ip, 0);
  if (!addr.ok()) return addr.status();
  int fd = socket(AF_INET, socket_type | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  socklen_t len = sizeof(*addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&*addr), &len) != 0) {
    absl::Status s = absl::InternalError(absl::StrCat("bind ", ip, ":0: ", std::strerror(errno)));
    close(fd);
    return s;
  }
  close(fd);
  return static_cast<int>(ntohs(addr->sin_port));
}

absl::Status WaitForTcpPort(int port, absl::Time deadline, const std::string& ip,
                            const std::function<bool()>& give_up) {
  absl::StatusOr<sockaddr_in> addr = Loopback(ip, port);
  if (!addr.ok()) return addr.status();
  absl::Duration pause = absl::Milliseconds(1);
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
    const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr)) == 0;
    close(fd);
    if (connected) return absl::OkStatus();
    if (give_up && give_up()) {
      return absl::FailedPreconditionError(absl::StrCat("gave up waiting for ", ip, ":", port));
    }
    if (absl::Now() + pause > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("nothing accepted connections on ", ip, ":", port, " in time"));
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(50));
  }
}

}  // namespace swarm::process
