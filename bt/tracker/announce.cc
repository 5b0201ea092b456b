#include "bt/tracker/announce.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "bt/utf8.h"

namespace swarm::bt::tracker {
namespace {

// Tracker ids are opaque, but nothing legitimate is this large; it is echoed into URLs.
constexpr size_t kMaxTrackerIdBytes = 1024;

}  // namespace

absl::Status ValidateScrapeHashes(const std::vector<std::string>& info_hashes) {
  if (info_hashes.empty() || info_hashes.size() > kMaxScrapeHashes) {
    return absl::InvalidArgumentError(absl::StrCat("a scrape takes 1..", kMaxScrapeHashes,
                                                   " info-hashes, got ", info_hashes.size()));
  }
  for (const std::string& hash : info_hashes) {
    if (hash.size() != kHashSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("info_hash must be 20 bytes, got ", hash.size()));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAnnounceParams(const AnnounceParams& params) {
  if (params.info_hash.size() != kHashSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("info_hash must be 20 bytes, got ", params.info_hash.size()));
  }
  if (params.peer_id.size() != kHashSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer_id must be 20 bytes, got ", params.peer_id.size()));
  }
  if (params.tracker_id.size() > kMaxTrackerIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("tracker_id longer than ", kMaxTrackerIdBytes,
                                                   " bytes: ", params.tracker_id.size()));
  }
  if (!params.ip.empty()) {
    IpFamily family;
    absl::Status ip = ParseIpAddress(params.ip, &family).status();
    if (!ip.ok()) return absl::InvalidArgumentError(absl::StrCat("ip: ", ip.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PeerEndpoint>> DecodeCompactPeers(std::string_view bytes,
                                                             IpFamily family, size_t max_peers) {
  const size_t size = CompactPeerSize(family);
  const size_t addr_size = size - 2;
  if (bytes.size() % size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("compact ", family == IpFamily::kV4 ? "IPv4" : "IPv6", " peer list of ",
                     bytes.size(), " bytes is not a multiple of ", size));
  }
  if (bytes.size() / size > max_peers) {
    return absl::InvalidArgumentError(absl::StrCat("compact peer list holds ", bytes.size() / size,
                                                   " peers, more than the ", max_peers,
                                                   " accepted"));
  }
  std::vector<PeerEndpoint> peers;
  peers.reserve(bytes.size() / size);
  for (size_t off = 0; off < bytes.size(); off += size) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data() + off);
    uint16_t port = static_cast<uint16_t>(p[addr_size] << 8 | p[addr_size + 1]);
    if (port == 0) continue;
    peers.push_back(PeerEndpoint{IpAddressToText(bytes.substr(off, addr_size)), port, ""});
  }
  return peers;
}

absl::StatusOr<std::string> EncodeCompactPeers(const std::vector<PeerEndpoint>& peers,
                                               IpFamily family) {
  std::string out;
  for (const PeerEndpoint& peer : peers) {
    IpFamily got;
    absl::StatusOr<std::string> addr = ParseIpAddress(peer.ip, &got);
    if (!addr.ok()) return addr.status();
    if (got != family) {
      return absl::InvalidArgumentError(absl::StrCat("peer ", peer.ip, " is of the other family"));
    }
    out += *addr;
    out.push_back(static_cast<char>(peer.port >> 8));
    out.push_back(static_cast<char>(peer.port & 0xff));
  }
  return out;
}

absl::StatusOr<std::string> ParseIpAddress(std::string_view text, IpFamily* family) {
  if (text.size() >= INET6_ADDRSTRLEN || text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("not an IPv4 or IPv6 address (too long or has NUL)");
  }
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  unsigned char addr[16];
  if (inet_pton(AF_INET, buf, addr) == 1) {
    *family = IpFamily::kV4;
    return std::string(reinterpret_cast<char*>(addr), 4);
  }
  if (inet_pton(AF_INET6, buf, addr) == 1) {
    *family = IpFamily::kV6;
    return std::string(reinterpret_cast<char*>(addr), 16);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not an IPv4 or IPv6 address: \"", SanitizeTrackerText(text, 64), "\""));
}

std::string IpAddressToText(std::string_view bytes) {
  if (bytes.size() != 4 && bytes.size() != 16) return "";
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(bytes.size() == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof(text)) ==
      nullptr) {
    return "";
  }
  return text;
}

std::string SanitizeTrackerText(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  size_t i = 0;
  while (i < text.size()) {
    size_t n = Utf8SequenceLength(text, i);
    size_t emit = n == 0 ? 1 : n;
    if (out.size() + emit > max_bytes) {
      out += "...";
      return out;
    }
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (n == 0 || (n == 1 && (c < 0x20 || c == 0x7f))) {
      out.push_back(c == '\t' || c == '\n' || c == '\r' ? ' ' : '?');
      i += 1;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace swarm::bt::tracker
