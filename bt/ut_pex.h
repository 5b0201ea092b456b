// ut_pex (BEP 11, over BEP 10): peers telling each other which peers they are connected to.
// The payload is a bencoded dictionary of compact peer lists: "added"/"dropped" (IPv4, 6
// bytes each) and "added6"/"dropped6" (IPv6, 18 bytes each), with "added.f" flags we do not
// need. Read under tight limits: a message is small (BEP 11: at most 50 peers per list), and
// a peer may send anything.
//
//   SWARM_ASSIGN_OR_RETURN(bt::PexMessage m, bt::ParsePexMessage(payload));
//   for (const bt::Endpoint& peer : m.added) ...;
//   bt::AppendExtended(&out, their_pex_id, bt::EncodePexMessage(added, dropped));
//
// Pure.
#ifndef SWARM_BT_UT_PEX_H_
#define SWARM_BT_UT_PEX_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "bt/endpoint.h"

namespace swarm::bt {

// Peers taken from one list of one message (IPv4 and IPv6 each); the rest is ignored.
inline constexpr size_t kMaxPexPeers = 50;

struct PexMessage {
  // IPv4 and IPv6 together, at most kMaxPexPeers of each family, in message order; port 0
  // entries are left out.
  std::vector<Endpoint> added;
  std::vector<Endpoint> dropped;
};

// INVALID_ARGUMENT for what is not a dictionary within the limits, or a peer list whose
// length is not a whole number of entries.
absl::StatusOr<PexMessage> ParsePexMessage(std::string_view payload);

// A message with these peers, each family in its own list, at most kMaxPexPeers of each.
std::string EncodePexMessage(absl::Span<const Endpoint> added, absl::Span<const Endpoint> dropped);

}  // namespace swarm::bt

#endif  // SWARM_BT_UT_PEX_H_
