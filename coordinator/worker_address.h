// Where swarm peers reach a worker that listens, worked out from its Register and the address
// its Work stream comes from. The key keeps the worker from being handed itself or another of
// our workers as a peer; announce_ip is what the coordinator sends as AnnounceRequest.ip when
// it announces the worker to the trackers.
//
// The rule: an explicit Register.listen_ip wins and is always announced (the worker knows
// where it is reachable; an unspecified address such as 0.0.0.0 counts as none). Without one
// the worker is where its stream comes from, and that address is announced unless it is
// loopback: a loopback worker runs on the coordinator's machine, whose address the tracker
// sees anyway when tracker_svc runs beside the coordinator, and a loopback `ip` must never
// reach a tracker elsewhere.
//
//   SWARM_ASSIGN_OR_RETURN(WorkerAddress addr, ResolveWorkerAddress(reg, ctx->peer()));
//   if (addr.listens()) own_keys.insert(addr.key);
#ifndef SWARM_COORDINATOR_WORKER_ADDRESS_H_
#define SWARM_COORDINATOR_WORKER_ADDRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "proto/coordinator.pb.h"

namespace swarm::coordinator {

struct WorkerAddress {
  // The TCP port the worker accepts peers on; 0: it does not listen.
  uint32_t port = 0;
  // The worker as a PeerPool key ("ip:port", "[ip]:port"); empty when it does not listen or
  // its address is unknown (a stream that does not come over IP).
  std::string key;
  // AnnounceRequest.ip; empty: the tracker takes the address the announce comes from.
  std::string announce_ip;

  bool listens() const { return port != 0; }
};

// INVALID_ARGUMENT for a listen_port over 65535, a listen_ip that is not an IPv4/IPv6
// address, or a listening worker whose peer_id is not 20 bytes (it could not be announced).
// `grpc_peer` is ServerContext::peer() of the worker's stream.
absl::StatusOr<WorkerAddress> ResolveWorkerAddress(const pb::Register& reg,
                                                   const std::string& grpc_peer);

// The host part of ServerContext::peer() ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", maybe
// percent-encoded); empty when it is not an IP endpoint.
std::string HostOfPeer(std::string peer);

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_WORKER_ADDRESS_H_
