// Our peer id (BEP 20's Azureus style): "-SW0001-" and 12 random printable characters, so that
// peers and logs can show it as text and tell the client by its prefix.
//
//   const std::string id = bt::NewPeerId();   // "-SW0001-k3Jx0aQ9vB2m"
#ifndef SWARM_BT_PEER_ID_H_
#define SWARM_BT_PEER_ID_H_

#include <string>
#include <string_view>

namespace swarm::bt {

inline constexpr std::string_view kPeerIdPrefix = "-SW0001-";

// A fresh random peer id of 20 bytes.
std::string NewPeerId();

}  // namespace swarm::bt

#endif  // SWARM_BT_PEER_ID_H_
