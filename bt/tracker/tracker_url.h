// Splits a tracker announce URL into what a client needs: scheme (http, https, udp), host,
// port and the path with its query. Untrusted (it comes from a .torrent file): bounded length,
// no whitespace or control characters, explicit port range.
//
//   SWARM_ASSIGN_OR_RETURN(bt::tracker::TrackerUrl url,
//                          bt::tracker::ParseTrackerUrl("udp://tracker.example:6969/announce"));
//   if (url.scheme == bt::tracker::TrackerScheme::kUdp) Connect(url.host, url.port);
//
// Pure: no I/O, no name resolution.
#ifndef SWARM_BT_TRACKER_TRACKER_URL_H_
#define SWARM_BT_TRACKER_TRACKER_URL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace swarm::bt::tracker {

// Longest tracker URL accepted.
inline constexpr size_t kMaxTrackerUrlBytes = 2048;

enum class TrackerScheme { kHttp, kHttps, kUdp };

struct TrackerUrl {
  TrackerScheme scheme = TrackerScheme::kHttp;
  std::string host;   // a name or an IP address; IPv6 without the brackets
  uint16_t port = 0;  // explicit, or 80 / 443 for http / https; udp needs one
  std::string path;   // from the first '/' or '?' on (without any '#fragment'); may be empty
};

// Fails with InvalidArgument (and why) on anything but a well-formed http://, https:// or
// udp:// URL. Scheme matching is case-insensitive. User info ("user@") is refused.
absl::StatusOr<TrackerUrl> ParseTrackerUrl(std::string_view url);

}  // namespace swarm::bt::tracker

#endif  // SWARM_BT_TRACKER_TRACKER_URL_H_
