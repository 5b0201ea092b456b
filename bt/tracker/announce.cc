#include "bt/tracker/announce.h"

#include <algorithm>

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
    absl::Status ip = IpAddress::Parse(params.ip).status();
    if (!ip.ok()) return absl::InvalidArgumentError(absl::StrCat("ip: ", ip.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Peer>> DecodeCompactPeers(std::string_view bytes, IpFamily family,
                                                     size_t max_peers) {
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
  std::vector<Peer> peers;
  peers.reserve(bytes.size() / size);
  for (size_t off = 0; off < bytes.size(); off += size) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data() + off);
    uint16_t port = static_cast<uint16_t>(p[addr_size] << 8 | p[addr_size + 1]);
    if (port == 0) continue;
    absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(bytes.substr(off, addr_size));
    absl::StatusOr<Endpoint> endpoint =
        ip.ok() ? Endpoint::Make(*ip, port) : absl::StatusOr<Endpoint>(ip.status());
    if (!endpoint.ok()) return endpoint.status();  // cannot happen: 4 or 16 bytes, port > 0
    peers.push_back(Peer{*std::move(endpoint), ""});
  }
  return peers;
}

absl::StatusOr<std::string> EncodeCompactPeers(const std::vector<Peer>& peers, IpFamily family) {
  std::string out;
  for (const Peer& peer : peers) {
    const IpAddress& ip = peer.endpoint.ip();
    if (ip.is_v4() != (family == IpFamily::kV4)) {
      return absl::InvalidArgumentError(
          absl::StrCat("peer ", peer.endpoint.ToString(), " is of the other family"));
    }
    out += ip.bytes();
    out.push_back(static_cast<char>(peer.endpoint.port() >> 8));
    out.push_back(static_cast<char>(peer.endpoint.port() & 0xff));
  }
  return out;
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
