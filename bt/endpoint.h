// Where a peer, a worker or a tracker is: a numeric IP address and a port, parsed once into a
// canonical form. Its text ("10.0.0.1:6881", "[2001:db8::1]:6881") is the identity the
// services share: the coordinator gives a swarm peer to one worker at a time and bans it by
// that key, workers report peers by it, and logs show it. So every form a tracker, a worker or
// a peer can send ("::0001", "::ffff:10.0.0.1", an accepted dual-stack socket's address) must
// come out as the same key for the same peer: an IPv4-mapped IPv6 address is its IPv4 address.
//
//   SWARM_ASSIGN_OR_RETURN(bt::Endpoint peer, bt::Endpoint::Make(reply_ip, reply_port));
//   pool.Add(peer);                        // keyed by peer.ToString(): "10.0.0.1:6881"
//   SWARM_ASSIGN_OR_RETURN(bt::IpAddress ip, bt::IpAddress::Parse(flag_listen_ip));
//   if (ip.IsUnspecified()) ...            // 0.0.0.0 or ::
//
// Pure: text and bytes only (inet_pton/inet_ntop), no name resolution, no sockets.
#ifndef SWARM_BT_ENDPOINT_H_
#define SWARM_BT_ENDPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace swarm::bt {

class IpAddress {
 public:
  // 0.0.0.0.
  IpAddress();

  // The text form of an IPv4 or IPv6 address: no brackets, no host names, no zone ids.
  // "::ffff:10.0.0.1" is 10.0.0.1.
  static absl::StatusOr<IpAddress> Parse(std::string_view text);
  // 4 (IPv4) or 16 (IPv6) bytes in network order, as compact peers and socket addresses hold
  // them; an IPv4-mapped IPv6 address is its IPv4 address.
  static absl::StatusOr<IpAddress> FromBytes(std::string_view bytes);

  bool is_v4() const { return bytes_.size() == 4; }
  // 4 or 16 bytes, network order.
  const std::string& bytes() const { return bytes_; }
  // Canonical text: dotted quad, or RFC 5952 IPv6 ("2001:db8::1"), without brackets.
  const std::string& ToString() const { return text_; }
  // 127.0.0.0/8 or ::1.
  bool IsLoopback() const;
  // 0.0.0.0 or :: ("any address": where to bind, never where someone is reached).
  bool IsUnspecified() const;
  // 224.0.0.0/4 or ff00::/8: a group, never one peer.
  bool IsMulticast() const;
  // 0.0.0.0/8 ("this network"), 240.0.0.0/4 (reserved) or 255.255.255.255: nobody to dial.
  bool IsReservedV4() const;
  // Reachable only inside a site or a link: 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier
  // NAT), 169.254/16 (link-local), fc00::/7 (unique local) and fe80::/10 (link-local).
  bool IsPrivate() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) { return a.bytes_ == b.bytes_; }
  friend bool operator!=(const IpAddress& a, const IpAddress& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& ip) {
    return H::combine(std::move(h), ip.bytes_);
  }

 private:
  IpAddress(std::string bytes, std::string text)
      : bytes_(std::move(bytes)), text_(std::move(text)) {}

  std::string bytes_;
  std::string text_;
};

class Endpoint {
 public:
  // 0.0.0.0:0: no endpoint.
  Endpoint() = default;

  // An address as IpAddress::Parse takes it and a port in 1..65535 (a port 0 peer cannot be
  // dialled).
  static absl::StatusOr<Endpoint> Make(std::string_view ip, uint32_t port);
  static absl::StatusOr<Endpoint> Make(const IpAddress& ip, uint32_t port);
  // "ip:port" or "[ipv6]:port", as ToString writes it.
  static absl::StatusOr<Endpoint> Parse(std::string_view ip_port);

  const IpAddress& ip() const { return ip_; }
  uint16_t port() const { return port_; }
  // "10.0.0.1:6881" or "[2001:db8::1]:6881": the key and the name in messages.
  std::string ToString() const;

  friend bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.port_ == b.port_ && a.ip_ == b.ip_;
  }
  friend bool operator!=(const Endpoint& a, const Endpoint& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const Endpoint& e) {
    return H::combine(std::move(h), e.ip_, e.port_);
  }

 private:
  Endpoint(IpAddress ip, uint16_t port) : ip_(std::move(ip)), port_(port) {}

  IpAddress ip_;
  uint16_t port_ = 0;
};

}  // namespace swarm::bt

#endif  // SWARM_BT_ENDPOINT_H_
