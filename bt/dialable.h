// Which peer addresses to accept from a source (a tracker's answer; later PEX), given where
// that source is. Nobody is reached at an unspecified, multicast or reserved address. A
// loopback or private address from a source on the public internet points into our own
// machine or network, where a lying tracker could aim the whole swarm at a service; so such
// addresses are taken only from a source that is there itself: loopback ones from a source on
// loopback, private ones from a source on loopback or in a private network. (Tests and
// LAN swarms keep working: their trackers sit where their peers are.)
//
//   if (!bt::IsDialablePeer(peer.ip(), tracker_ip)) continue;
//
// Pure.
#ifndef SWARM_BT_DIALABLE_H_
#define SWARM_BT_DIALABLE_H_

#include "bt/endpoint.h"

namespace swarm::bt {

bool IsDialablePeer(const IpAddress& peer, const IpAddress& source);

}  // namespace swarm::bt

#endif  // SWARM_BT_DIALABLE_H_
