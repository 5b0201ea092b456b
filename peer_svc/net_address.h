// Peer addresses and the socket-address conversions the worker's TCP code shares: the outgoing
// connections (connect, bind to a source address) and the listener (bind, accept).
//
//   sockaddr_storage addr;
//   socklen_t len;
//   if (!ToSockaddr("127.0.0.2", 6881, &addr, &len)) return BadAddress();
//   connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
//   ...
//   PeerEndpoint remote = EndpointFromSockaddr(accepted_addr);   // "127.0.0.3:51234"
#ifndef SWARM_PEER_SVC_NET_ADDRESS_H_
#define SWARM_PEER_SVC_NET_ADDRESS_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace swarm::peer_svc {

// A swarm peer's address as the coordinator gives it (or as an incoming peer came from).
struct PeerEndpoint {
  std::string ip;  // IPv4 dotted quad or IPv6 text form
  uint16_t port = 0;
  // "1.2.3.4:6881" or "[::1]:6881", for messages.
  std::string ToString() const;
  friend bool operator==(const PeerEndpoint& a, const PeerEndpoint& b) {
    return a.ip == b.ip && a.port == b.port;
  }
};

// Parses a numeric IPv4 or IPv6 address with `port` into *addr; false when `ip` is neither.
bool ToSockaddr(const std::string& ip, uint16_t port, sockaddr_storage* addr, socklen_t* len);

// The address in `addr` (IPv4 or IPv6; an IPv4-mapped IPv6 address as plain IPv4).
PeerEndpoint EndpointFromSockaddr(const sockaddr_storage& addr);

// True for 0.0.0.0 and :: (bind to every interface; not an address others can reach).
bool IsWildcardAddress(const std::string& ip);

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_NET_ADDRESS_H_
