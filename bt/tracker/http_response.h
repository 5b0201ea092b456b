// Parses the bencoded bodies that HTTP(S) trackers answer announces and scrapes with (BEP 3):
// compact peers (BEP 23), the dictionary peer model, `peers6` (BEP 7), `failure reason`,
// `warning message`, `tracker id`, intervals and the complete/incomplete counts.
//
//   absl::StatusOr<bt::tracker::AnnounceReply> reply = bt::tracker::ParseAnnounceResponse(body);
//   if (absl::IsFailedPrecondition(reply.status())) ...;  // the tracker refused, with its text
//
// A body that is not a bencoded dictionary, or whose known keys have the wrong types, is
// InvalidArgument naming the key and byte offset. A `failure reason` is FailedPrecondition
// "tracker failure: <the tracker's text>" (sanitized). Pure: no I/O.
#ifndef SWARM_BT_TRACKER_HTTP_RESPONSE_H_
#define SWARM_BT_TRACKER_HTTP_RESPONSE_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bt/tracker/announce.h"

namespace swarm::bt::tracker {

struct HttpResponseLimits {
  // Largest body parsed; the HTTP client also caps what it downloads.
  size_t max_body_bytes = 4u << 20;
  // Most bencode values in one body.
  size_t max_tokens = 1'000'000;
  // Deepest nesting; real replies are 3 deep (root, peer list, peer dictionary).
  int max_depth = 32;
  // Most peers kept from one reply (IPv4 and IPv6 together); the rest are dropped.
  size_t max_peers = 50'000;
  // Most torrents kept from one scrape reply.
  size_t max_scrape_entries = 10'000;
};

// Interval used when a reply has none (libtorrent does the same).
inline constexpr uint32_t kDefaultIntervalS = 1800;

absl::StatusOr<AnnounceReply> ParseAnnounceResponse(
    std::string_view body, const HttpResponseLimits& limits = HttpResponseLimits());

// Counts for each 20-byte key of the `files` dictionary, in the body's order. Keys of another
// length are skipped.
absl::StatusOr<std::vector<ScrapeCounts>> ParseScrapeResponse(
    std::string_view body, const HttpResponseLimits& limits = HttpResponseLimits());

}  // namespace swarm::bt::tracker

#endif  // SWARM_BT_TRACKER_HTTP_RESPONSE_H_
