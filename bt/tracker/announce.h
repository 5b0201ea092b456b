// What an announce says and what a tracker answers, independent of transport: the types that
// the HTTP (BEP 3/23/7) and UDP (BEP 15) codecs in this package share, plus the compact peer
// format (6 bytes per IPv4 peer, 18 per IPv6 peer) that both transports use. Addresses are
// bt::Endpoint (bt/endpoint.h): canonical, so one peer is one key however a tracker wrote it.
//
//   bt::tracker::AnnounceParams params;
//   params.info_hash = info_hash;  // 20 raw bytes
//   params.peer_id = peer_id;      // 20 raw bytes
//   params.port = 6881;
//   SWARM_RETURN_IF_ERROR(bt::tracker::ValidateAnnounceParams(params));
//   SWARM_ASSIGN_OR_RETURN(std::vector<bt::tracker::Peer> peers,
//                          bt::tracker::DecodeCompactPeers(bytes, bt::tracker::IpFamily::kV4));
//
// Pure: no I/O.
#ifndef SWARM_BT_TRACKER_ANNOUNCE_H_
#define SWARM_BT_TRACKER_ANNOUNCE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bt/endpoint.h"

namespace swarm::bt::tracker {

// Length of an info-hash and of a peer id.
inline constexpr size_t kHashSize = 20;

// Most info-hashes in one scrape (what fits one BEP 15 UDP scrape packet; HTTP uses it too to
// keep URLs short).
inline constexpr size_t kMaxScrapeHashes = 74;

// Why an announce happens (BEP 3). kNone is a regular re-announce.
enum class AnnounceEvent { kNone, kStarted, kCompleted, kStopped };

struct AnnounceParams {
  std::string info_hash;  // 20 raw bytes
  std::string peer_id;    // 20 raw bytes
  uint16_t port = 0;      // TCP port this peer listens on
  uint64_t uploaded = 0;
  uint64_t downloaded = 0;
  uint64_t left = 0;
  AnnounceEvent event = AnnounceEvent::kNone;
  uint32_t numwant = 0;    // 0: omit and let the tracker choose
  uint32_t key = 0;        // sent as `key` (HTTP: 8 hex digits; UDP: the key field)
  std::string tracker_id;  // HTTP `trackerid` from an earlier answer; empty to omit
  // Where this peer is reachable (BEP 3 `ip`), IPv4 or IPv6 text, when it is not the address
  // the announce comes from (one service announcing for peers on other hosts). Empty: omitted.
  // HTTP sends it as `ip`; UDP only has room for an IPv4 address (BEP 15).
  std::string ip;
};

// OK when info_hash and peer_id are 20 bytes each, tracker_id is at most 1 KiB and ip is
// empty or an IPv4/IPv6 address (host names are refused: nothing here resolves them).
absl::Status ValidateAnnounceParams(const AnnounceParams& params);

// OK when there are 1..kMaxScrapeHashes info-hashes of 20 bytes each.
absl::Status ValidateScrapeHashes(const std::vector<std::string>& info_hashes);

// A peer as a tracker hands it out.
struct Peer {
  Endpoint endpoint;
  std::string peer_id;  // 20 bytes from the dictionary model; empty otherwise

  bool operator==(const Peer& o) const { return endpoint == o.endpoint && peer_id == o.peer_id; }
};

// A successful answer to an announce.
struct AnnounceReply {
  std::vector<Peer> peers;
  uint32_t interval_s = 0;            // seconds until the next regular announce
  uint32_t min_interval_s = 0;        // 0 when the tracker gave none
  int64_t seeders = -1;               // -1 when the tracker did not say
  int64_t leechers = -1;              // -1 when the tracker did not say
  std::vector<std::string> warnings;  // "warning message" and notes on skipped peer entries
  std::string tracker_id;             // "tracker id", empty when absent
};

// Scrape counts of one torrent.
struct ScrapeCounts {
  std::string info_hash;   // 20 raw bytes
  uint64_t seeders = 0;    // "complete"
  uint64_t completed = 0;  // "downloaded"
  uint64_t leechers = 0;   // "incomplete"

  bool operator==(const ScrapeCounts& o) const {
    return info_hash == o.info_hash && seeders == o.seeders && completed == o.completed &&
           leechers == o.leechers;
  }
};

enum class IpFamily { kV4, kV6 };

// Size of one compact peer: 4 or 16 address bytes and a 2-byte big-endian port.
inline constexpr size_t CompactPeerSize(IpFamily family) {
  return family == IpFamily::kV4 ? 6 : 18;
}

// Decodes a run of compact peers (BEP 23 for IPv4, BEP 7 for IPv6). Fails when the length
// is not a multiple of the peer size or there are more than `max_peers` peers. Peers with
// port 0 are dropped (they cannot be dialled).
absl::StatusOr<std::vector<Peer>> DecodeCompactPeers(std::string_view bytes, IpFamily family,
                                                     size_t max_peers = 100'000);

// Encodes peers of one family in compact form (test trackers use this). Fails on a peer
// whose ip is not an address of that family.
absl::StatusOr<std::string> EncodeCompactPeers(const std::vector<Peer>& peers, IpFamily family);

// Tracker-supplied text (failure reasons, warnings) made safe to put into logs and status
// messages: valid UTF-8 is kept, control characters and invalid bytes become '?', and the
// result is cut to `max_bytes` (with "..." appended when cut).
std::string SanitizeTrackerText(std::string_view text, size_t max_bytes = 512);

}  // namespace swarm::bt::tracker

#endif  // SWARM_BT_TRACKER_ANNOUNCE_H_
