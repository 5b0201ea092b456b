#include "bt/tracker/udp_packet.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "bt/endpoint.h"

namespace swarm::bt::tracker {
namespace {

void Put32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
void Put64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}
// Callers check bounds first.
uint64_t Get(std::string_view in, size_t off, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | static_cast<unsigned char>(in[off + i]);
  return v;
}
uint32_t Get32(std::string_view in, size_t off) { return static_cast<uint32_t>(Get(in, off, 4)); }
uint64_t Get64(std::string_view in, size_t off) { return Get(in, off, 8); }

// BEP 15 numbers events differently from the order of AnnounceEvent.
uint32_t EventCode(AnnounceEvent event) {
  switch (event) {
    case AnnounceEvent::kCompleted:
      return 1;
    case AnnounceEvent::kStarted:
      return 2;
    case AnnounceEvent::kStopped:
      return 3;
    case AnnounceEvent::kNone:
      break;
  }
  return 0;
}

const char* ActionName(uint32_t action) {
  switch (action) {
    case 0:
      return "connect";
    case 1:
      return "announce";
    case 2:
      return "scrape";
    case 3:
      return "error";
  }
  return "unknown";
}

// Checks the header of a response expected to be `want` for `transaction_id`, and at least
// `min_size` bytes long. Error packets become FailedPrecondition with the tracker's text.
absl::Status CheckResponse(std::string_view packet, uint32_t transaction_id, UdpAction want,
                           size_t min_size) {
  SWARM_ASSIGN_OR_RETURN(UdpResponseHeader header, PeekUdpResponseHeader(packet));
  if (header.transaction_id != transaction_id) {
    return absl::InvalidArgumentError(absl::StrCat("UDP tracker response has transaction id ",
                                                   header.transaction_id, ", expected ",
                                                   transaction_id));
  }
  if (header.action == static_cast<uint32_t>(UdpAction::kError)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tracker error: ", SanitizeTrackerText(packet.substr(kUdpResponseHeaderSize))));
  }
  if (header.action != static_cast<uint32_t>(want)) {
    return absl::InvalidArgumentError(
        absl::StrCat("UDP tracker answered action ", header.action, " (", ActionName(header.action),
                     ") to a ", ActionName(static_cast<uint32_t>(want)), " request"));
  }
  if (packet.size() < min_size) {
    return absl::InvalidArgumentError(absl::StrCat("UDP ", ActionName(header.action),
                                                   " response of ", packet.size(),
                                                   " bytes is shorter than ", min_size));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeUdpConnectRequest(uint32_t transaction_id) {
  std::string out;
  out.reserve(kUdpConnectRequestSize);
  Put64(&out, kUdpProtocolId);
  Put32(&out, static_cast<uint32_t>(UdpAction::kConnect));
  Put32(&out, transaction_id);
  return out;
}

absl::StatusOr<std::string> EncodeUdpAnnounceRequest(uint64_t connection_id,
                                                     uint32_t transaction_id,
                                                     const AnnounceParams& params) {
  SWARM_RETURN_IF_ERROR(ValidateAnnounceParams(params));
  std::string out;
  out.reserve(kUdpAnnounceRequestSize);
  Put64(&out, connection_id);
  Put32(&out, static_cast<uint32_t>(UdpAction::kAnnounce));
  Put32(&out, transaction_id);
  out += params.info_hash;
  out += params.peer_id;
  Put64(&out, params.downloaded);
  Put64(&out, params.left);
  Put64(&out, params.uploaded);
  Put32(&out, EventCode(params.event));
  // IP address: 0 = the packet's source address. The field holds IPv4 only; an IPv6 `ip`
  // cannot be said over UDP, so the tracker uses the source address then.
  std::string ip_field(4, '\0');
  if (!params.ip.empty()) {
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(params.ip);
    if (ip.ok() && ip->is_v4()) ip_field = ip->bytes();
  }
  out += ip_field;
  Put32(&out, params.key);
  Put32(&out, params.numwant == 0 ? 0xffffffffu : params.numwant);  // -1: tracker's default
  Put16(&out, params.port);
  return out;
}

absl::StatusOr<std::string> EncodeUdpScrapeRequest(uint64_t connection_id, uint32_t transaction_id,
                                                   const std::vector<std::string>& info_hashes) {
  SWARM_RETURN_IF_ERROR(ValidateScrapeHashes(info_hashes));
  std::string out;
  out.reserve(kUdpScrapeRequestHeaderSize + kHashSize * info_hashes.size());
  Put64(&out, connection_id);
  Put32(&out, static_cast<uint32_t>(UdpAction::kScrape));
  Put32(&out, transaction_id);
  for (const std::string& hash : info_hashes) out += hash;
  return out;
}

absl::StatusOr<UdpResponseHeader> PeekUdpResponseHeader(std::string_view packet) {
  if (packet.size() < kUdpResponseHeaderSize) {
    return absl::InvalidArgumentError(absl::StrCat("UDP tracker response of ", packet.size(),
                                                   " bytes is shorter than its 8-byte header"));
  }
  return UdpResponseHeader{Get32(packet, 0), Get32(packet, 4)};
}

absl::StatusOr<uint64_t> DecodeUdpConnectResponse(std::string_view packet,
                                                  uint32_t transaction_id) {
  SWARM_RETURN_IF_ERROR(
      CheckResponse(packet, transaction_id, UdpAction::kConnect, kUdpConnectResponseSize));
  return Get64(packet, 8);
}

absl::StatusOr<AnnounceReply> DecodeUdpAnnounceResponse(std::string_view packet,
                                                        uint32_t transaction_id, IpFamily family) {
  if (packet.size() == kUdpResponseHeaderSize) {
    SWARM_ASSIGN_OR_RETURN(UdpResponseHeader header, PeekUdpResponseHeader(packet));
    if (header.transaction_id == transaction_id &&
        header.action == static_cast<uint32_t>(UdpAction::kAnnounce)) {
      // opentracker answers so (rather than with an error packet) for an info-hash that is not
      // on its whitelist: a refusal, not a malformed packet.
      return absl::FailedPreconditionError(
          "tracker refused the announce without a reason (a header-only reply: opentracker's "
          "answer for an info-hash it does not serve)");
    }
  }
  SWARM_RETURN_IF_ERROR(
      CheckResponse(packet, transaction_id, UdpAction::kAnnounce, kUdpAnnounceResponseHeaderSize));
  AnnounceReply reply;
  reply.interval_s = Get32(packet, 8);
  reply.leechers = Get32(packet, 12);
  reply.seeders = Get32(packet, 16);
  absl::StatusOr<std::vector<Peer>> peers =
      DecodeCompactPeers(packet.substr(kUdpAnnounceResponseHeaderSize), family);
  if (!peers.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("UDP announce response: ", peers.status().message()));
  }
  reply.peers = *std::move(peers);
  return reply;
}

absl::StatusOr<std::vector<ScrapeCounts>> DecodeUdpScrapeResponse(
    std::string_view packet, uint32_t transaction_id, const std::vector<std::string>& info_hashes) {
  SWARM_RETURN_IF_ERROR(
      CheckResponse(packet, transaction_id, UdpAction::kScrape, kUdpResponseHeaderSize));
  std::string_view body = packet.substr(kUdpResponseHeaderSize);
  if (body.size() % 12 != 0 || body.size() / 12 > info_hashes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("UDP scrape response body of ", body.size(),
                                                   " bytes does not hold up to ",
                                                   info_hashes.size(), " entries of 12 bytes"));
  }
  std::vector<ScrapeCounts> out;
  for (size_t i = 0; i < body.size() / 12; ++i) {
    out.push_back(ScrapeCounts{info_hashes[i], Get32(body, 12 * i), Get32(body, 12 * i + 4),
                               Get32(body, 12 * i + 8)});
  }
  return out;
}

absl::StatusOr<UdpRequest> DecodeUdpRequest(std::string_view packet) {
  if (packet.size() < 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("UDP tracker request of ", packet.size(), " bytes is shorter than 16"));
  }
  UdpRequest req;
  req.connection_id = Get64(packet, 0);
  uint32_t action = Get32(packet, 8);
  req.transaction_id = Get32(packet, 12);
  switch (action) {
    case 0:
      if (req.connection_id != kUdpProtocolId) {
        return absl::InvalidArgumentError("UDP connect request without the protocol id");
      }
      req.action = UdpAction::kConnect;
      return req;
    case 1: {
      if (packet.size() < kUdpAnnounceRequestSize) {
        return absl::InvalidArgumentError(
            absl::StrCat("UDP announce request of ", packet.size(), " bytes is shorter than 98"));
      }
      req.action = UdpAction::kAnnounce;
      AnnounceParams& a = req.announce;
      a.info_hash = std::string(packet.substr(16, 20));
      a.peer_id = std::string(packet.substr(36, 20));
      a.downloaded = Get64(packet, 56);
      a.left = Get64(packet, 64);
      a.uploaded = Get64(packet, 72);
      switch (Get32(packet, 80)) {
        case 1:
          a.event = AnnounceEvent::kCompleted;
          break;
        case 2:
          a.event = AnnounceEvent::kStarted;
          break;
        case 3:
          a.event = AnnounceEvent::kStopped;
          break;
        default:
          a.event = AnnounceEvent::kNone;
      }
      if (Get32(packet, 84) != 0) {
        if (absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(packet.substr(84, 4)); ip.ok()) {
          a.ip = ip->ToString();
        }
      }
      a.key = Get32(packet, 88);
      uint32_t numwant = Get32(packet, 92);
      a.numwant = numwant == 0xffffffffu ? 0 : numwant;
      a.port = static_cast<uint16_t>(Get(packet, 96, 2));
      return req;
    }
    case 2: {
      std::string_view hashes = packet.substr(16);
      if (hashes.empty() || hashes.size() % kHashSize != 0 ||
          hashes.size() / kHashSize > kMaxScrapeHashes) {
        return absl::InvalidArgumentError(
            absl::StrCat("UDP scrape request with ", hashes.size(), " bytes of hashes"));
      }
      req.action = UdpAction::kScrape;
      for (size_t off = 0; off < hashes.size(); off += kHashSize) {
        req.info_hashes.emplace_back(hashes.substr(off, kHashSize));
      }
      return req;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("UDP tracker request with action ", action));
}

std::string EncodeUdpConnectResponse(uint32_t transaction_id, uint64_t connection_id) {
  std::string out;
  Put32(&out, static_cast<uint32_t>(UdpAction::kConnect));
  Put32(&out, transaction_id);
  Put64(&out, connection_id);
  return out;
}

absl::StatusOr<std::string> EncodeUdpAnnounceResponse(uint32_t transaction_id,
                                                      const AnnounceReply& reply, IpFamily family) {
  SWARM_ASSIGN_OR_RETURN(std::string peers, EncodeCompactPeers(reply.peers, family));
  std::string out;
  Put32(&out, static_cast<uint32_t>(UdpAction::kAnnounce));
  Put32(&out, transaction_id);
  Put32(&out, reply.interval_s);
  Put32(&out, static_cast<uint32_t>(reply.leechers < 0 ? 0 : reply.leechers));
  Put32(&out, static_cast<uint32_t>(reply.seeders < 0 ? 0 : reply.seeders));
  out += peers;
  return out;
}

std::string EncodeUdpScrapeResponse(uint32_t transaction_id,
                                    const std::vector<ScrapeCounts>& counts) {
  std::string out;
  Put32(&out, static_cast<uint32_t>(UdpAction::kScrape));
  Put32(&out, transaction_id);
  for (const ScrapeCounts& c : counts) {
    Put32(&out, static_cast<uint32_t>(c.seeders));
    Put32(&out, static_cast<uint32_t>(c.completed));
    Put32(&out, static_cast<uint32_t>(c.leechers));
  }
  return out;
}

std::string EncodeUdpErrorResponse(uint32_t transaction_id, std::string_view message) {
  std::string out;
  Put32(&out, static_cast<uint32_t>(UdpAction::kError));
  Put32(&out, transaction_id);
  out += message;
  return out;
}

}  // namespace swarm::bt::tracker
