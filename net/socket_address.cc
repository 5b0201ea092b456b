#include "net/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace swarm::net {
namespace {

absl::StatusOr<bt::Endpoint> FromBytes(const void* bytes, size_t size, uint16_t port) {
  absl::StatusOr<bt::IpAddress> ip =
      bt::IpAddress::FromBytes(std::string_view(static_cast<const char*>(bytes), size));
  if (!ip.ok()) return ip.status();
  return bt::Endpoint::Make(*ip, port);
}

}  // namespace

SocketAddress ToSocketAddress(const bt::IpAddress& ip, uint16_t port) {
  SocketAddress out;
  std::memset(&out.storage, 0, sizeof(out.storage));
  if (ip.is_v4()) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    std::memcpy(&v4->sin_addr, ip.bytes().data(), 4);
    out.size = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    std::memcpy(&v6->sin6_addr, ip.bytes().data(), 16);
    out.size = sizeof(sockaddr_in6);
  }
  return out;
}

absl::StatusOr<bt::Endpoint> FromSocketAddress(const sockaddr* addr, uint16_t port) {
  if (addr->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(addr);
    return FromBytes(&v4->sin_addr, 4, port != 0 ? port : ntohs(v4->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr);
    return FromBytes(&v6->sin6_addr, 16, port != 0 ? port : ntohs(v6->sin6_port));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("address family ", addr->sa_family, " is neither IPv4 nor IPv6"));
}

absl::StatusOr<bt::Endpoint> FromSocketAddress(const sockaddr_storage& addr) {
  return FromSocketAddress(reinterpret_cast<const sockaddr*>(&addr), 0);
}

absl::StatusOr<SocketAddress> ParseSocketAddress(std::string_view ip, uint16_t port) {
  absl::StatusOr<bt::IpAddress> parsed = bt::IpAddress::Parse(ip);
  if (!parsed.ok()) return parsed.status();
  return ToSocketAddress(*parsed, port);
}

absl::StatusOr<uint16_t> BoundPort(int fd) {
  sockaddr_storage bound;
  socklen_t len = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return absl::InternalError(absl::StrCat("getsockname: ", std::strerror(errno)));
  }
  absl::StatusOr<bt::Endpoint> endpoint = FromSocketAddress(bound);
  if (!endpoint.ok()) return endpoint.status();
  return endpoint->port();
}

}  // namespace swarm::net
