#include "bt/tracker/http_url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "bt/tracker/tracker_url.h"

namespace swarm::bt::tracker {
namespace {

using ::swarm::Absl;

absl::Status CheckHttpUrl(std::string_view url) {
  SWARM_ASSIGN_OR_RETURN(TrackerUrl parsed, ParseTrackerUrl(url));
  if (parsed.scheme == TrackerScheme::kUdp) {
    return absl::InvalidArgumentError("not an http(s) tracker URL");
  }
  return absl::OkStatus();
}

// Joins `base` (minus any #fragment) and `query` with '?' or '&'.
std::string AppendQuery(std::string_view base, std::string_view query) {
  base = base.substr(0, base.find('#'));
  char sep = base.find('?') == std::string_view::npos ? '?' : '&';
  if (!base.empty() && (base.back() == '?' || base.back() == '&')) {
    return absl::StrCat(Absl(base), Absl(query));
  }
  return absl::StrCat(Absl(base), std::string(1, sep), Absl(query));
}

const char* EventName(AnnounceEvent event) {
  switch (event) {
    case AnnounceEvent::kStarted:
      return "started";
    case AnnounceEvent::kCompleted:
      return "completed";
    case AnnounceEvent::kStopped:
      return "stopped";
    case AnnounceEvent::kNone:
      break;
  }
  return nullptr;
}

}  // namespace

std::string PercentEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 3);
  for (char c : bytes) {
    unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

absl::StatusOr<std::string> BuildAnnounceUrl(std::string_view announce_url,
                                             const AnnounceParams& params) {
  SWARM_RETURN_IF_ERROR(CheckHttpUrl(announce_url));
  SWARM_RETURN_IF_ERROR(ValidateAnnounceParams(params));
  std::string query = absl::StrCat(
      "info_hash=", PercentEncode(params.info_hash), "&peer_id=", PercentEncode(params.peer_id),
      "&port=", params.port, "&uploaded=", params.uploaded, "&downloaded=", params.downloaded,
      "&left=", params.left, "&compact=1", absl::StrFormat("&key=%08X", params.key));
  if (const char* event = EventName(params.event)) absl::StrAppend(&query, "&event=", event);
  if (params.numwant != 0) absl::StrAppend(&query, "&numwant=", params.numwant);
  if (!params.tracker_id.empty()) {
    absl::StrAppend(&query, "&trackerid=", PercentEncode(params.tracker_id));
  }
  if (!params.ip.empty()) absl::StrAppend(&query, "&ip=", PercentEncode(params.ip));
  return AppendQuery(announce_url, query);
}

absl::StatusOr<std::string> ScrapeUrlFor(std::string_view announce_url) {
  SWARM_RETURN_IF_ERROR(CheckHttpUrl(announce_url));
  std::string_view url = announce_url.substr(0, announce_url.find('#'));
  size_t query = url.find('?');
  std::string_view path = url.substr(0, query);
  size_t slash = path.rfind('/');
  size_t scheme_end = path.find("://");
  if (slash == std::string_view::npos || slash < scheme_end + 3 ||
      !absl::StartsWith(Absl(path.substr(slash + 1)), "announce")) {
    return absl::UnimplementedError(
        "tracker URL's last path segment does not start with \"announce\": no scrape URL");
  }
  return absl::StrCat(Absl(path.substr(0, slash + 1)), "scrape",
                      Absl(path.substr(slash + 1 + std::string_view("announce").size())),
                      Absl(query == std::string_view::npos ? "" : url.substr(query)));
}

absl::StatusOr<std::string> BuildScrapeUrl(std::string_view announce_url,
                                           const std::vector<std::string>& info_hashes) {
  SWARM_RETURN_IF_ERROR(ValidateScrapeHashes(info_hashes));
  std::string query;
  for (const std::string& hash : info_hashes) {
    absl::StrAppend(&query, query.empty() ? "" : "&", "info_hash=", PercentEncode(hash));
  }
  SWARM_ASSIGN_OR_RETURN(std::string scrape_url, ScrapeUrlFor(announce_url));
  return AppendQuery(scrape_url, query);
}

}  // namespace swarm::bt::tracker
