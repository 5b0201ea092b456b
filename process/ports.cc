#include "process/ports.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bt/endpoint.h"
#include "net/socket_address.h"

namespace swarm::process {
namespace {

absl::StatusOr<net::SocketAddress> Address(const std::string& ip, int port) {
  absl::StatusOr<bt::IpAddress> parsed = bt::IpAddress::Parse(ip);
  if (!parsed.ok()) return parsed.status();
  return net::ToSocketAddress(*parsed, static_cast<uint16_t>(port));
}

}  // namespace

absl::StatusOr<int> PickUnusedPort(int socket_type, const std::string& ip) {
  absl::StatusOr<net::SocketAddress> addr = Address(ip, 0);
  if (!addr.ok()) return addr.status();
  int fd = socket(addr->family(), socket_type | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_storage bound;
  socklen_t len = sizeof(bound);
  if (bind(fd, addr->get(), addr->size) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    absl::Status s = absl::InternalError(absl::StrCat("bind ", ip, ":0: ", std::strerror(errno)));
    close(fd);
    return s;
  }
  close(fd);
  absl::StatusOr<bt::Endpoint> endpoint = net::FromSocketAddress(bound);
  if (!endpoint.ok()) return endpoint.status();
  return static_cast<int>(endpoint->port());
}

absl::Status WaitForTcpPort(int port, absl::Time deadline, const std::string& ip,
                            const std::function<bool()>& give_up) {
  absl::StatusOr<net::SocketAddress> addr = Address(ip, port);
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
