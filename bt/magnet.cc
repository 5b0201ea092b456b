#include "bt/magnet.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/absl_view.h"

namespace swarm::bt {
namespace {

constexpr char kScheme[] = "magnet:";
constexpr size_t kSchemeSize = sizeof(kScheme) - 1;
constexpr char kBtih[] = "urn:btih:";
constexpr size_t kBtihSize = sizeof(kBtih) - 1;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding; `plus_is_space` for the name, which browsers write that way.
absl::StatusOr<std::string> Unescape(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      const int hi = i + 1 < in.size() ? HexValue(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("magnet link: bad percent escape at byte ", i, " of a value"));
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (in[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// RFC 4648 base32, no padding: 32 characters make the 20 bytes of an info-hash.
std::optional<Sha1Digest> FromBase32(std::string_view text) {
  if (text.size() != 32) return std::nullopt;
  Sha1Digest digest{};
  uint64_t bits = 0;
  int count = 0;
  size_t out = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      return std::nullopt;
    }
    bits = (bits << 5) | static_cast<uint64_t>(v);
    count += 5;
    if (count >= 8) {
      count -= 8;
      digest[out++] = static_cast<uint8_t>(bits >> count);
    }
  }
  return digest;
}

std::optional<Sha1Digest> FromHex(std::string_view text) {
  if (text.size() != 40) return std::nullopt;
  Sha1Digest digest{};
  for (size_t i = 0; i < 20; ++i) {
    const int hi = HexValue(text[2 * i]), lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    digest[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return digest;
}

bool IsTrackerUrl(std::string_view url) {
  const std::string lower = absl::AsciiStrToLower(Absl(url.substr(0, 8)));
  return absl::StartsWith(lower, "http://") || absl::StartsWith(lower, "https://") ||
         absl::StartsWith(lower, "udp://");
}

// Unreserved characters (RFC 3986) pass; everything else is %XX.
std::string Escape(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

bool IsMagnet(std::string_view text) {
  return text.size() >= kSchemeSize &&
         absl::EqualsIgnoreCase(Absl(text.substr(0, kSchemeSize)), kScheme);
}

absl::StatusOr<MagnetLink> ParseMagnet(std::string_view uri) {
  if (!IsMagnet(uri)) return absl::InvalidArgumentError("not a magnet link (magnet:?...)");
  if (uri.size() > kMaxMagnetBytes) {
    return absl::InvalidArgumentError(absl::StrCat("magnet link of ", uri.size(),
                                                   " bytes: longer than ", kMaxMagnetBytes));
  }
  std::string_view query = uri.substr(kSchemeSize);
  if (query.empty() || query[0] != '?') {
    return absl::InvalidArgumentError("magnet link without parameters (magnet:?xt=...)");
  }
  query.remove_prefix(1);
  MagnetLink link;
  bool has_hash = false, has_v2 = false;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;  // a bare word: nothing we use
    const std::string key = absl::AsciiStrToLower(Absl(param.substr(0, eq)));
    const std::string_view raw = param.substr(eq + 1);
    // "tr", or "tr.1", "tr.2": some clients number them.
    const bool tracker = key == "tr" || absl::StartsWith(key, "tr.");
    if (key != "xt" && key != "dn" && key != "x.pe" && !tracker) continue;
    absl::StatusOr<std::string> value = Unescape(raw, /*plus_is_space=*/key == "dn");
    if (!value.ok()) return value.status();
    if (key == "xt") {
      if (absl::StartsWithIgnoreCase(*value, "urn:btmh:")) has_v2 = true;
      if (!absl::StartsWithIgnoreCase(*value, kBtih)) continue;
      const std::string_view hash = std::string_view(*value).substr(kBtihSize);
      std::optional<Sha1Digest> digest = hash.size() == 40 ? FromHex(hash) : FromBase32(hash);
      if (!digest) {
        return absl::InvalidArgumentError(
            absl::StrCat("magnet link: \"", absl::CHexEscape(Absl(hash.substr(0, 64))),
                         "\" is not an info-hash (40 hex digits or 32 base32 characters)"));
      }
      if (has_hash && *digest != link.info_hash) {
        return absl::InvalidArgumentError("magnet link names two different info-hashes");
      }
      link.info_hash = *digest;
      has_hash = true;
    } else if (key == "dn") {
      link.name = value->substr(0, kMaxMagnetNameBytes);
    } else if (tracker) {
      if (!IsTrackerUrl(*value)) continue;
      if (std::find(link.trackers.begin(), link.trackers.end(), *value) != link.trackers.end()) {
        continue;
      }
      if (link.trackers.size() >= kMaxMagnetTrackers) {
        return absl::InvalidArgumentError(
            absl::StrCat("magnet link with more than ", kMaxMagnetTrackers, " trackers"));
      }
      link.trackers.push_back(*std::move(value));
    } else {  // x.pe
      absl::StatusOr<Endpoint> peer = Endpoint::Parse(*value);
      if (!peer.ok()) continue;  // a host name, or garbage: nothing to dial without a lookup
      if (std::find(link.peers.begin(), link.peers.end(), *peer) != link.peers.end()) continue;
      if (link.peers.size() >= kMaxMagnetPeers) {
        return absl::InvalidArgumentError(
            absl::StrCat("magnet link with more than ", kMaxMagnetPeers, " peers"));
      }
      link.peers.push_back(*std::move(peer));
    }
  }
  if (!has_hash) {
    return absl::InvalidArgumentError(
        has_v2 ? "magnet link of a BitTorrent v2 torrent only (urn:btmh): not supported"
               : "magnet link without an info-hash (xt=urn:btih:...)");
  }
  return link;
}

std::string ToMagnet(const MagnetLink& link) {
  std::string out = absl::StrCat(kScheme, "?xt=", kBtih, ToHex(link.info_hash));
  if (!link.name.empty()) absl::StrAppend(&out, "&dn=", Escape(link.name));
  for (const std::string& tracker : link.trackers) absl::StrAppend(&out, "&tr=", Escape(tracker));
  for (const Endpoint& peer : link.peers) absl::StrAppend(&out, "&x.pe=", Escape(peer.ToString()));
  return out;
}

MagnetLink MagnetFor(const Metainfo& metainfo) {
  MagnetLink link;
  link.info_hash = metainfo.info_hash;
  link.name = metainfo.name;
  for (const std::vector<std::string>& tier : metainfo.trackers) {
    for (const std::string& url : tier) {
      if (std::find(link.trackers.begin(), link.trackers.end(), url) == link.trackers.end()) {
        link.trackers.push_back(url);
      }
    }
  }
  return link;
}

std::string TorrentFromMagnet(const MagnetLink& link, std::string_view info_dict) {
  // Keys in bencode's order: announce, announce-list, info.
  std::string out = "d";
  if (!link.trackers.empty()) {
    absl::StrAppend(&out, "8:announce", link.trackers[0].size(), ":", link.trackers[0],
                    "13:announce-listl");
    for (const std::string& t : link.trackers) absl::StrAppend(&out, "l", t.size(), ":", t, "e");
    out += "e";
  }
  absl::StrAppend(&out, "4:info", Absl(info_dict), "e");
  return out;
}

}  // namespace swarm::bt
