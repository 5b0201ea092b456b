// The address this machine uses to reach a given host: where a worker listens for swarm peers
// unless told otherwise. A worker beside its coordinator (loopback, a Unix socket) listens on
// loopback; one on another machine listens on its address on the network that reaches the
// coordinator, which is where the swarm's peers and trackers most likely see it. Found with
// the routing table (a UDP socket's connect sends nothing), not by guessing at interfaces.
//
//   SWARM_ASSIGN_OR_RETURN(std::string ip, LocalAddressToward("10.0.0.1:7000"));  // "10.0.0.5"
#ifndef SWARM_PEER_SVC_LOCAL_ADDRESS_H_
#define SWARM_PEER_SVC_LOCAL_ADDRESS_H_

#include <string>

#include "absl/status/statusor.h"

namespace swarm::peer_svc {

// `target` is a gRPC target: "host:port", "[v6]:port", "dns:///host:port", "ipv4:ip:port",
// or "unix:PATH" (loopback). The result is an IPv4 or IPv6 address in text form.
absl::StatusOr<std::string> LocalAddressToward(const std::string& target);

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_LOCAL_ADDRESS_H_
