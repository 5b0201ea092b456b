#include "coordinator/worker_address.h"

#include <arpa/inet.h>

#include <cstring>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "coordinator/peer_pool.h"

namespace swarm::coordinator {
namespace {

constexpr size_t kPeerIdSize = 20;

struct Ip {
  std::string text;  // canonical
  bool loopback = false;
  bool unspecified = false;
};

Ip FromV4(const unsigned char* a) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, a, text, sizeof(text));
  Ip ip;
  ip.text = text;
  ip.loopback = a[0] == 127;
  ip.unspecified = a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0;
  return ip;
}

// An address in canonical text form. IPv4-mapped IPv6 addresses become IPv4: a dual-stack
// listener reports IPv4 clients so, and trackers list those peers as IPv4.
std::optional<Ip> ParseIp(const std::string& text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN || text.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  unsigned char b[16] = {};
  if (inet_pton(AF_INET, text.c_str(), b) == 1) return FromV4(b);
  if (inet_pton(AF_INET6, text.c_str(), b) != 1) return std::nullopt;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, sizeof(kMapped)) == 0) return FromV4(b + 12);
  static constexpr unsigned char kZero[16] = {};
  char canonical[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, b, canonical, sizeof(canonical));
  Ip ip;
  ip.text = canonical;
  ip.unspecified = std::memcmp(b, kZero, 16) == 0;
  ip.loopback = std::memcmp(b, kZero, 15) == 0 && b[15] == 1;
  return ip;
}

}  // namespace

std::string HostOfPeer(std::string peer) {
  peer = absl::StrReplaceAll(peer, {{"%5B", "["}, {"%5D", "]"}, {"%3A", ":"}});
  const size_t scheme = peer.find(':');
  if (scheme == std::string::npos) return "";
  const std::string kind = peer.substr(0, scheme);
  std::string rest = peer.substr(scheme + 1);
  if (kind == "ipv6" && !rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    return close == std::string::npos ? "" : rest.substr(1, close - 1);
  }
  if (kind != "ipv4") return "";
  const size_t colon = rest.rfind(':');
  return colon == std::string::npos ? "" : rest.substr(0, colon);
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
  std::optional<Ip> host;
  if (!reg.listen_ip().empty()) {
    host = ParseIp(reg.listen_ip());
    if (!host) {
      return absl::InvalidArgumentError(absl::StrCat("listen_ip \"",
                                                     absl::CEscape(reg.listen_ip().substr(0, 64)),
                                                     "\" is not an IPv4 or IPv6 address"));
    }
    if (host->unspecified) {
      host.reset();  // "any address" says nothing about where the worker is reached
    } else {
      out.announce_ip = host->text;
    }
  }
  if (!host) {
    host = ParseIp(HostOfPeer(grpc_peer));
    if (host && !host->loopback && !host->unspecified) out.announce_ip = host->text;
  }
  if (host) {
    absl::StatusOr<PeerAddr> addr = MakePeerAddr(host->text, out.port);
    if (addr.ok()) out.key = addr->Key();
  }
  return out;
}

}  // namespace swarm::coordinator
