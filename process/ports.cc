#include "process/ports.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "net/socket_address.h"

namespace swarm::process {

absl::StatusOr<int> PickUnusedPort(int socket_type, const std::string& ip) {
  absl::StatusOr<net::SocketAddress> addr = net::ParseSocketAddress(ip, 0);
  if (!addr.ok()) return addr.status();
  int fd = socket(addr->family(), socket_type | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  if (bind(fd, addr->get(), addr->size) != 0) {
    absl::Status s = absl::InternalError(absl::StrCat("bind ", ip, ":0: ", std::strerror(errno)));
    close(fd);
    return s;
  }
  absl::StatusOr<uint16_t> port = net::BoundPort(fd);
  close(fd);
  if (!port.ok()) return port.status();
  return static_cast<int>(*port);
}

absl::Status WaitForTcpPort(int port, absl::Time deadline, const std::string& ip,
                            const std::function<bool()>& give_up) {
  absl::StatusOr<net::SocketAddress> addr = net::ParseSocketAddress(ip, static_cast<uint16_t>(port));
  if (!addr.ok()) return addr.status();
  absl::Duration pause = absl::Milliseconds(1);
  for (;;) {
    int fd = socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
    const bool connected = connect(fd, addr->get(), addr->size) == 0;
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
