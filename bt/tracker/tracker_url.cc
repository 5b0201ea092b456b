#include "bt/tracker/tracker_url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "bt/endpoint.h"
#include "bt/tracker/announce.h"

namespace swarm::bt::tracker {
namespace {

using ::swarm::Absl;

absl::Status Bad(std::string_view url, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad tracker URL \"", SanitizeTrackerText(url, 200), "\": ", Absl(why)));
}

bool IsHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

absl::StatusOr<TrackerUrl> ParseTrackerUrl(std::string_view url) {
  if (url.size() > kMaxTrackerUrlBytes) {
    return Bad(url, absl::StrCat("longer than ", kMaxTrackerUrlBytes, " bytes"));
  }
  for (char c : url) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Bad(url, "contains whitespace, control or non-ASCII bytes");
  }
  TrackerUrl out;
  size_t colon = url.find("://");
  if (colon == std::string_view::npos) return Bad(url, "no scheme");
  std::string scheme = absl::AsciiStrToLower(Absl(url.substr(0, colon)));
  if (scheme == "http") {
    out.scheme = TrackerScheme::kHttp;
    out.port = 80;
  } else if (scheme == "https") {
    out.scheme = TrackerScheme::kHttps;
    out.port = 443;
  } else if (scheme == "udp") {
    out.scheme = TrackerScheme::kUdp;
  } else {
    return Bad(url, "scheme is not http, https or udp");
  }
  std::string_view rest = url.substr(colon + 3);
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  if (path_start != std::string_view::npos) out.path = std::string(rest.substr(path_start));
  if (authority.find('@') != std::string_view::npos) return Bad(url, "user info is not allowed");

  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad(url, "unclosed '[' in host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Bad(url, "junk after ']'");
      port_text = after.substr(1);
      has_port = true;
    }
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(host);
    if (!ip.ok() || ip->is_v4()) {
      return Bad(url, "bracketed host is not an IPv6 address");
    }
  } else {
    size_t c = authority.rfind(':');
    host = authority.substr(0, c);
    if (c != std::string_view::npos) {
      port_text = authority.substr(c + 1);
      has_port = true;
    }
    for (char ch : host) {
      if (!IsHostChar(ch)) return Bad(url, "host has a character not allowed in a host name");
    }
  }
  if (host.empty()) return Bad(url, "empty host");
  if (has_port) {
    uint32_t port = 0;
    if (port_text.empty() || port_text.size() > 5 || !absl::SimpleAtoi(Absl(port_text), &port) ||
        port == 0 || port > 65535 ||
        !absl::ascii_isdigit(static_cast<unsigned char>(port_text[0]))) {
      return Bad(url, "port is not a number in 1..65535");
    }
    out.port = static_cast<uint16_t>(port);
  } else if (out.scheme == TrackerScheme::kUdp) {
    return Bad(url, "udp tracker URL needs a port");
  }
  out.host = std::string(host);
  return out;
}

}  // namespace swarm::bt::tracker
