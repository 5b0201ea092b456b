#include "coordinator/worker_address.h"

#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "bt/endpoint.h"

namespace swarm::coordinator {
namespace {

constexpr size_t kPeerIdSize = 20;

}  // namespace

std::string HostOfPeer(std::string peer) {
  // gRPC names a TCP peer "ipv4:1.2.3.4:5000" or "ipv6:[::1]:5000", maybe percent-encoded.
  peer = absl::StrReplaceAll(peer, {{"%5B", "["}, {"%5D", "]"}, {"%3A", ":"}});
  for (const std::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (std::string_view(peer).substr(0, scheme.size()) == scheme) {
      absl::StatusOr<bt::Endpoint> e =
          bt::Endpoint::Parse(std::string_view(peer).substr(scheme.size()));
      return e.ok() ? e->ip().ToString() : "";
    }
  }
  return "";
}

absl::StatusOr<WorkerAddress> ResolveWorkerAddress(const pb::Register& reg,
                                                   const std::string& grpc_peer) {
  if (reg.listen_port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("listen_port ", reg.listen_port()));
  }
  WorkerAddress out;
  if (reg.listen_port() == 0) return out;
  if (reg.peer_id().size() != kPeerIdSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a worker that listens needs a 20-byte peer_id, got ", reg.peer_id().size(), " bytes"));
  }
  out.port = reg.listen_port();
  std::optional<bt::IpAddress> host;
  if (!reg.listen_ip().empty()) {
    absl::StatusOr<bt::IpAddress> listen_ip = bt::IpAddress::Parse(reg.listen_ip());
    if (!listen_ip.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("listen_ip: ", listen_ip.status().message()));
    }
    // "Any address" says nothing about where the worker is reached.
    if (!listen_ip->IsUnspecified()) {
      host = *listen_ip;
      out.announce_ip = host->ToString();
    }
  }
  if (!host) {
    if (absl::StatusOr<bt::IpAddress> seen = bt::IpAddress::Parse(HostOfPeer(grpc_peer));
        seen.ok()) {
      host = *seen;
      if (!seen->IsLoopback() && !seen->IsUnspecified()) out.announce_ip = seen->ToString();
    }
  }
  if (host) {
    absl::StatusOr<bt::Endpoint> addr = bt::Endpoint::Make(*host, out.port);
    if (addr.ok()) out.key = addr->ToString();
  }
  return out;
}

}  // namespace swarm::coordinator
