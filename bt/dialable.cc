#include "bt/dialable.h"

namespace swarm::bt {

bool IsDialablePeer(const IpAddress& peer, const IpAddress& source) {
  if (peer.IsUnspecified() || peer.IsMulticast() || peer.IsReservedV4()) return false;
  if (peer.IsLoopback()) return source.IsLoopback();
  if (peer.IsPrivate()) return source.IsLoopback() || source.IsPrivate();
  return true;
}

}  // namespace swarm::bt
