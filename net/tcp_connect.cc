#include "net/tcp_connect.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "net/socket_address.h"

namespace swarm::net {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<int> StartTcpConnect(const bt::Endpoint& to, const std::string& bind_ip) {
  const SocketAddress addr = ToSocketAddress(to);
  const int fd = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  absl::Status status;
  if (!bind_ip.empty()) {
    absl::StatusOr<SocketAddress> local = ParseSocketAddress(bind_ip, 0);
    if (!local.ok()) {
      status = absl::InvalidArgumentError(absl::StrCat("bind address: ", local.status().message()));
    } else if (local->family() == addr.family() && bind(fd, local->get(), local->size) != 0) {
      status = Errno(absl::StrCat("bind to ", bind_ip));
    }
  }
  if (status.ok() && connect(fd, addr.get(), addr.size) != 0 && errno != EINPROGRESS) {
    status = Errno("connect");
  }
  if (!status.ok()) {
    close(fd);
    return status;
  }
  return fd;
}

absl::Status TcpConnectResult(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return Errno("getsockopt");
  if (err == 0) return absl::OkStatus();
  errno = err;
  return Errno("connect");
}

}  // namespace swarm::net
