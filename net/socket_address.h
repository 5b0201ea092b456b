// bt::Endpoint <-> the socket API's sockaddr: the one place where the services (a worker's peer
// connections and listener, tracker_svc's UDP client) turn an endpoint into something to
// connect, bind or send to, and an accepted or resolved address back into an endpoint.
//
//   SocketAddress to = ToSocketAddress(peer);
//   connect(fd, to.get(), to.size);
//   ...
//   sockaddr_storage from;  socklen_t len = sizeof(from);
//   int client = accept(listen_fd, reinterpret_cast<sockaddr*>(&from), &len);
//   absl::StatusOr<bt::Endpoint> remote = FromSocketAddress(from);   // "10.0.0.3:51234"
//
//   SWARM_ASSIGN_OR_RETURN(SocketAddress any, ParseSocketAddress(flag_ip, 0));
//   bind(fd, any.get(), any.size);
//   SWARM_ASSIGN_OR_RETURN(uint16_t port, BoundPort(fd));
#ifndef SWARM_NET_SOCKET_ADDRESS_H_
#define SWARM_NET_SOCKET_ADDRESS_H_

#include <sys/socket.h>

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "bt/endpoint.h"

namespace swarm::net {

struct SocketAddress {
  sockaddr_storage storage;
  socklen_t size = 0;
  int family() const { return storage.ss_family; }  // AF_INET or AF_INET6
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// An IPv4 endpoint as AF_INET, an IPv6 one as AF_INET6.
SocketAddress ToSocketAddress(const bt::IpAddress& ip, uint16_t port);
inline SocketAddress ToSocketAddress(const bt::Endpoint& e) {
  return ToSocketAddress(e.ip(), e.port());
}

// An AF_INET or AF_INET6 address (a dual-stack socket's IPv4-mapped peer as IPv4), with
// `port` instead of the address's own when given (getaddrinfo without a service gives 0).
// Other families, and port 0, are errors.
absl::StatusOr<bt::Endpoint> FromSocketAddress(const sockaddr_storage& addr);
absl::StatusOr<bt::Endpoint> FromSocketAddress(const sockaddr* addr, uint16_t port);

// `ip` as bt::IpAddress::Parse takes it (a flag, an option) with `port`, to bind or connect
// to; port 0 binds an ephemeral port.
absl::StatusOr<SocketAddress> ParseSocketAddress(std::string_view ip, uint16_t port);

// The port socket `fd` is bound to (after binding port 0: the one the system picked).
absl::StatusOr<uint16_t> BoundPort(int fd);

}  // namespace swarm::net

#endif  // SWARM_NET_SOCKET_ADDRESS_H_
