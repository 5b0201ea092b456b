// Magnet links (BEP 9): what a link names, parsed under limits, and a link written back.
//
//   magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<tracker>&tr=...&x.pe=<ip:port>
//
// The info-hash is 40 hex digits or 32 base32 characters (either case). Values are
// percent-decoded (and '+' is a space in the name, as browsers write it). Parameters we do
// not use are skipped; a tracker other than http(s) or udp and a peer that is not an IP
// literal with a port are left out rather than failing the link, as other clients do.
//
//   SWARM_ASSIGN_OR_RETURN(bt::MagnetLink link, bt::ParseMagnet(argv[1]));
//   std::cout << bt::ToHex(link.info_hash) << " " << link.name << "\n";
//   std::string again = bt::ToMagnet(link);
//
// Pure.
#ifndef SWARM_BT_MAGNET_H_
#define SWARM_BT_MAGNET_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bt/endpoint.h"
#include "bt/metainfo.h"
#include "bt/sha1.h"

namespace swarm::bt {

// What one link may carry: far beyond any real link, small next to what a hostile one
// could make us hold.
inline constexpr size_t kMaxMagnetBytes = 64 * 1024;
inline constexpr size_t kMaxMagnetTrackers = 64;
inline constexpr size_t kMaxMagnetPeers = 256;
inline constexpr size_t kMaxMagnetNameBytes = 1024;

struct MagnetLink {
  Sha1Digest info_hash{};
  // "dn": a name to show until the metadata arrives (the torrent's own name wins then).
  // Untrusted: escape it before it reaches a terminal.
  std::string name;
  // "tr" (and "tr.1", "tr.2", ...): in the link's order, each once.
  std::vector<std::string> trackers;
  // "x.pe": peers to try at once, each once.
  std::vector<Endpoint> peers;
};

// Whether `text` is meant as a magnet link (it starts with "magnet:", in any case).
bool IsMagnet(std::string_view text);

// INVALID_ARGUMENT naming what is wrong: not a magnet link, no BitTorrent v1 info-hash (a
// v2-only "btmh" link says so), a malformed one, a bad percent escape, or a link over the
// limits above.
absl::StatusOr<MagnetLink> ParseMagnet(std::string_view uri);

// The link, info-hash in hex, values percent-encoded; ParseMagnet(ToMagnet(l)) gives l.
std::string ToMagnet(const MagnetLink& link);

// The link to a torrent: its info-hash, name and trackers (every tier's, each once).
MagnetLink MagnetFor(const Metainfo& metainfo);

// A .torrent made of an info dictionary fetched for the link (its exact bytes, so the
// info-hash stays the link's) and the link's trackers, each in a tier of its own (BEP 12).
std::string TorrentFromMagnet(const MagnetLink& link, std::string_view info_dict);

}  // namespace swarm::bt

#endif  // SWARM_BT_MAGNET_H_
