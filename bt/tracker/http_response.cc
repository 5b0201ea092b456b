#include "bt/tracker/http_response.h"

#include <limits>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "bt/bencode.h"
#include "bt/endpoint.h"

namespace swarm::bt::tracker {
namespace {

using ::swarm::Absl;

absl::Status BadKey(std::string_view key, std::string_view want, const BView& v) {
  return absl::InvalidArgumentError(absl::StrCat("tracker response: \"", Absl(key), "\" at byte ",
                                                 v.offset(), " is not ", Absl(want)));
}

// Parses `body` into a document whose root is a dictionary.
absl::StatusOr<BDocument> ParseRoot(std::string_view body, const HttpResponseLimits& limits) {
  if (body.size() > limits.max_body_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("tracker response of ", body.size(),
                                                   " bytes is over the ", limits.max_body_bytes,
                                                   "-byte limit"));
  }
  if (body.empty()) return absl::InvalidArgumentError("tracker response is empty");
  DecodeLimits decode;
  decode.max_depth = limits.max_depth;
  decode.max_tokens = limits.max_tokens;
  decode.max_input_bytes = limits.max_body_bytes;
  decode.allow_unsorted_keys = true;
  absl::StatusOr<BDocument> doc = BDocument::Parse(body, decode);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tracker response is not valid bencode: ", doc.status().message()));
  }
  if (!doc->root().is_dict()) {
    return absl::InvalidArgumentError("tracker response is not a bencoded dictionary");
  }
  return doc;
}

// FailedPrecondition with the tracker's text when the reply has a "failure reason".
absl::Status CheckFailure(const BView& root) {
  std::optional<BView> failure = root.Find("failure reason");
  if (!failure) return absl::OkStatus();
  if (!failure->is_string()) return BadKey("failure reason", "a string", *failure);
  return absl::FailedPreconditionError(
      absl::StrCat("tracker failure: ", SanitizeTrackerText(failure->string_value())));
}

// Reads an optional integer key into [lo, hi]; absent leaves *out untouched.
absl::Status ReadInt(const BView& dict, std::string_view key, int64_t lo, int64_t hi,
                     int64_t* out) {
  std::optional<BView> v = dict.Find(key);
  if (!v) return absl::OkStatus();
  if (!v->is_int()) return BadKey(key, "an integer", *v);
  if (v->int_value() < lo || v->int_value() > hi) {
    return absl::InvalidArgumentError(absl::StrCat("tracker response: \"", Absl(key),
                                                   "\" = ", v->int_value(), " at byte ",
                                                   v->offset(), " is outside ", lo, "..", hi));
  }
  *out = v->int_value();
  return absl::OkStatus();
}

// Appends the dictionary-model peers of `list`; counts entries that are not usable.
void ReadPeerDicts(const BView& list, size_t max_peers, std::vector<Peer>* peers, size_t* skipped) {
  for (const BView& entry : list.items()) {
    if (peers->size() >= max_peers) {
      ++*skipped;
      continue;
    }
    std::optional<BView> ip = entry.Find("ip");
    std::optional<BView> port = entry.Find("port");
    if (!ip || !port || !ip->is_string() || !port->is_int() || port->int_value() <= 0 ||
        port->int_value() > 65535) {
      ++*skipped;
      continue;
    }
    // Canonical, so that peers compare equal however the tracker wrote them.
    absl::StatusOr<Endpoint> endpoint =
        Endpoint::Make(ip->string_value(), static_cast<uint32_t>(port->int_value()));
    if (!endpoint.ok()) {
      ++*skipped;  // host names too: bt/ does not resolve, and trackers rarely send them
      continue;
    }
    Peer peer{*std::move(endpoint), ""};
    if (std::optional<BView> id = entry.Find("peer id");
        id && id->is_string() && id->string_value().size() == kHashSize) {
      peer.peer_id = std::string(id->string_value());
    }
    peers->push_back(std::move(peer));
  }
}

// Appends compact peers of `family` from the string `v`, keeping at most max_peers in all.
absl::Status ReadCompact(std::string_view key, const BView& v, IpFamily family, size_t max_peers,
                         std::vector<Peer>* peers, size_t* skipped) {
  absl::StatusOr<std::vector<Peer>> decoded =
      DecodeCompactPeers(v.string_value(), family, std::numeric_limits<size_t>::max());
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("tracker response: \"", Absl(key), "\" at byte ",
                                                   v.offset(), ": ", decoded.status().message()));
  }
  for (Peer& p : *decoded) {
    if (peers->size() >= max_peers) {
      ++*skipped;
    } else {
      peers->push_back(std::move(p));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AnnounceReply> ParseAnnounceResponse(std::string_view body,
                                                    const HttpResponseLimits& limits) {
  SWARM_ASSIGN_OR_RETURN(BDocument doc, ParseRoot(body, limits));
  const BView root = doc.root();
  SWARM_RETURN_IF_ERROR(CheckFailure(root));

  AnnounceReply reply;
  constexpr int64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
  int64_t interval = kDefaultIntervalS;
  int64_t min_interval = 0;
  SWARM_RETURN_IF_ERROR(ReadInt(root, "interval", 0, kMaxU32, &interval));
  SWARM_RETURN_IF_ERROR(ReadInt(root, "min interval", 0, kMaxU32, &min_interval));
  reply.interval_s = static_cast<uint32_t>(interval);
  reply.min_interval_s = static_cast<uint32_t>(min_interval);
  constexpr int64_t kMaxCount = std::numeric_limits<int64_t>::max();
  SWARM_RETURN_IF_ERROR(ReadInt(root, "complete", 0, kMaxCount, &reply.seeders));
  SWARM_RETURN_IF_ERROR(ReadInt(root, "incomplete", 0, kMaxCount, &reply.leechers));

  if (std::optional<BView> w = root.Find("warning message")) {
    if (!w->is_string()) return BadKey("warning message", "a string", *w);
    reply.warnings.push_back(SanitizeTrackerText(w->string_value()));
  }
  if (std::optional<BView> id = root.Find("tracker id")) {
    if (!id->is_string()) return BadKey("tracker id", "a string", *id);
    if (id->string_value().size() > 1024) {
      return absl::InvalidArgumentError(absl::StrCat("tracker response: \"tracker id\" at byte ",
                                                     id->offset(), " is over 1024 bytes"));
    }
    reply.tracker_id = std::string(id->string_value());
  }

  size_t skipped = 0;
  if (std::optional<BView> peers = root.Find("peers")) {
    if (peers->is_string()) {
      SWARM_RETURN_IF_ERROR(
          ReadCompact("peers", *peers, IpFamily::kV4, limits.max_peers, &reply.peers, &skipped));
    } else if (peers->is_list()) {
      ReadPeerDicts(*peers, limits.max_peers, &reply.peers, &skipped);
    } else {
      return BadKey("peers", "a string or a list", *peers);
    }
  }
  if (std::optional<BView> peers6 = root.Find("peers6")) {
    if (!peers6->is_string()) return BadKey("peers6", "a string", *peers6);
    SWARM_RETURN_IF_ERROR(
        ReadCompact("peers6", *peers6, IpFamily::kV6, limits.max_peers, &reply.peers, &skipped));
  }
  if (skipped > 0) {
    reply.warnings.push_back(absl::StrCat("skipped ", skipped,
                                          " peer entries (malformed, host names, or over the ",
                                          limits.max_peers, "-peer limit)"));
  }
  return reply;
}

absl::StatusOr<std::vector<ScrapeCounts>> ParseScrapeResponse(std::string_view body,
                                                              const HttpResponseLimits& limits) {
  SWARM_ASSIGN_OR_RETURN(BDocument doc, ParseRoot(body, limits));
  const BView root = doc.root();
  SWARM_RETURN_IF_ERROR(CheckFailure(root));
  std::optional<BView> files = root.Find("files");
  if (!files) return absl::InvalidArgumentError("scrape response has no \"files\" dictionary");
  if (!files->is_dict()) return BadKey("files", "a dictionary", *files);
  std::vector<ScrapeCounts> out;
  for (const auto& [hash, counts] : files->dict_items()) {
    if (hash.size() != kHashSize || !counts.is_dict()) continue;
    if (out.size() >= limits.max_scrape_entries) break;
    ScrapeCounts c;
    c.info_hash = std::string(hash);
    int64_t complete = 0, downloaded = 0, incomplete = 0;
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    SWARM_RETURN_IF_ERROR(ReadInt(counts, "complete", 0, kMax, &complete));
    SWARM_RETURN_IF_ERROR(ReadInt(counts, "downloaded", 0, kMax, &downloaded));
    SWARM_RETURN_IF_ERROR(ReadInt(counts, "incomplete", 0, kMax, &incomplete));
    c.seeders = static_cast<uint64_t>(complete);
    c.completed = static_cast<uint64_t>(downloaded);
    c.leechers = static_cast<uint64_t>(incomplete);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace swarm::bt::tracker
