// Starting an outgoing TCP connection without blocking, the way every peer connection does:
// a non-blocking socket with Nagle off (our messages are small and batched already: Nagle
// would hold one back for a delayed ACK), bound to a source address when given, connecting.
// The caller waits for it to be writable (poll), then asks how it went.
//
//   SWARM_ASSIGN_OR_RETURN(int fd, net::StartTcpConnect(peer, bind_ip));
//   ... poll(fd, POLLOUT) until the deadline ...
//   SWARM_RETURN_IF_ERROR(net::TcpConnectResult(fd));
#ifndef SWARM_NET_TCP_CONNECT_H_
#define SWARM_NET_TCP_CONNECT_H_

#include <string>

#include "absl/status/statusor.h"
#include "bt/endpoint.h"

namespace swarm::net {

// The socket (close-on-exec, the caller's to close), connecting to `to`. `bind_ip` (empty:
// the system's choice) is ignored for a peer of the other address family. INVALID_ARGUMENT
// for a `bind_ip` that is not an address; UNAVAILABLE, with errno's text, when the socket
// cannot be made, bound or started connecting (nothing is left open then).
absl::StatusOr<int> StartTcpConnect(const bt::Endpoint& to, const std::string& bind_ip);

// Once the socket is writable: OK when connected, else UNAVAILABLE with the reason.
absl::Status TcpConnectResult(int fd);

}  // namespace swarm::net

#endif  // SWARM_NET_TCP_CONNECT_H_
