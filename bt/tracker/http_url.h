// Builds the GET URLs of HTTP(S) tracker announces (BEP 3, compact=1 per BEP 23) and scrapes
// (the BEP 48 convention: ".../announce" becomes ".../scrape"). Binary info-hashes and peer ids
// are percent-encoded byte by byte; only RFC 3986 unreserved characters stay as they are.
//
//   SWARM_ASSIGN_OR_RETURN(std::string url,
//                          bt::tracker::BuildAnnounceUrl("http://t.example/announce", params));
//   // http://t.example/announce?info_hash=%12%34...&peer_id=-SW0001-...&port=6881&...
//
// Pure: no I/O.
#ifndef SWARM_BT_TRACKER_HTTP_URL_H_
#define SWARM_BT_TRACKER_HTTP_URL_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bt/tracker/announce.h"

namespace swarm::bt::tracker {

// %XX-encodes (upper-case hex) every byte outside A-Z a-z 0-9 - . _ ~.
std::string PercentEncode(std::string_view bytes);

// The announce URL for `params` on the http(s) tracker `announce_url`. Keeps an existing query
// (e.g. a passkey) and appends with '&'. Sends compact=1, event only when not kNone, numwant
// only when non-zero, key as 8 hex digits, trackerid and ip (BEP 3) only when non-empty.
absl::StatusOr<std::string> BuildAnnounceUrl(std::string_view announce_url,
                                             const AnnounceParams& params);

// The scrape URL of an http(s) tracker: the last path segment must start with "announce",
// which is replaced by "scrape". Unimplemented when the URL has no such segment (the tracker
// has no scrape by the convention).
absl::StatusOr<std::string> ScrapeUrlFor(std::string_view announce_url);

// ScrapeUrlFor(announce_url) with one info_hash parameter per hash (1..kMaxScrapeHashes
// hashes of 20 bytes each).
absl::StatusOr<std::string> BuildScrapeUrl(std::string_view announce_url,
                                           const std::vector<std::string>& info_hashes);

}  // namespace swarm::bt::tracker

#endif  // SWARM_BT_TRACKER_HTTP_URL_H_
