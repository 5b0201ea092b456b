// The packets of the UDP tracker protocol (BEP 15): connect, announce, scrape and error, both
// directions (clients encode requests and decode responses; test trackers do the reverse).
// All integers are big-endian. Decoders check the size, the action and, where given, the
// transaction id; an error packet (action 3) decodes to FailedPrecondition carrying the
// tracker's (sanitized) text.
//
//   std::string packet = bt::tracker::EncodeUdpConnectRequest(transaction_id);
//   ... send, receive `reply` ...
//   SWARM_ASSIGN_OR_RETURN(uint64_t connection_id,
//                          bt::tracker::DecodeUdpConnectResponse(reply, transaction_id));
//
// Pure: no I/O.
#ifndef SWARM_BT_TRACKER_UDP_PACKET_H_
#define SWARM_BT_TRACKER_UDP_PACKET_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bt/tracker/announce.h"

namespace swarm::bt::tracker {

// The magic connection id of a connect request.
inline constexpr uint64_t kUdpProtocolId = 0x41727101980ull;

enum class UdpAction : uint32_t { kConnect = 0, kAnnounce = 1, kScrape = 2, kError = 3 };

// Sizes of the fixed parts of the packets.
inline constexpr size_t kUdpConnectRequestSize = 16;
inline constexpr size_t kUdpConnectResponseSize = 16;
inline constexpr size_t kUdpAnnounceRequestSize = 98;
inline constexpr size_t kUdpAnnounceResponseHeaderSize = 20;
inline constexpr size_t kUdpScrapeRequestHeaderSize = 16;
inline constexpr size_t kUdpResponseHeaderSize = 8;
// Largest datagram either side needs to accept (announce responses with many peers).
inline constexpr size_t kUdpMaxPacketSize = 65507;

// Requests (client side).
std::string EncodeUdpConnectRequest(uint32_t transaction_id);
// Fails when params are invalid (see ValidateAnnounceParams). numwant 0 is sent as -1
// (the tracker's default); an IPv4 `ip` goes into the IP address field, an IPv6 one cannot
// (the field stays 0: the packet's source address).
absl::StatusOr<std::string> EncodeUdpAnnounceRequest(uint64_t connection_id,
                                                     uint32_t transaction_id,
                                                     const AnnounceParams& params);
// 1..kMaxScrapeHashes (74) info-hashes of 20 bytes.
absl::StatusOr<std::string> EncodeUdpScrapeRequest(uint64_t connection_id, uint32_t transaction_id,
                                                   const std::vector<std::string>& info_hashes);

// The action and transaction id at the start of every response.
struct UdpResponseHeader {
  uint32_t action = 0;  // a UdpAction value, or anything a broken tracker sent
  uint32_t transaction_id = 0;
};
absl::StatusOr<UdpResponseHeader> PeekUdpResponseHeader(std::string_view packet);

// Responses (client side). Each fails on a short packet, another action or another
// transaction id; an error packet becomes FailedPrecondition("tracker error: <text>").
absl::StatusOr<uint64_t> DecodeUdpConnectResponse(std::string_view packet, uint32_t transaction_id);
// `family` is that of the socket the request went out on: BEP 15 answers an IPv6 request with
// 18-byte peers. Seeders and leechers are always set; warnings and tracker_id stay empty.
// A header-only announce reply (8 bytes) is FailedPrecondition too: opentracker refuses an
// info-hash that is not on its whitelist that way, without an error packet.
absl::StatusOr<AnnounceReply> DecodeUdpAnnounceResponse(std::string_view packet,
                                                        uint32_t transaction_id, IpFamily family);
// One entry per requested hash, in request order. A tracker may answer fewer hashes than asked
// (a short packet); it must not answer a partial entry.
absl::StatusOr<std::vector<ScrapeCounts>> DecodeUdpScrapeResponse(
    std::string_view packet, uint32_t transaction_id, const std::vector<std::string>& info_hashes);

// A request as a tracker sees it (server side, for test trackers).
struct UdpRequest {
  UdpAction action = UdpAction::kConnect;
  uint64_t connection_id = 0;
  uint32_t transaction_id = 0;
  AnnounceParams announce;               // kAnnounce only (tracker_id stays empty; ip is
                                         // set from a non-zero IP address field)
  std::vector<std::string> info_hashes;  // kScrape only
};
absl::StatusOr<UdpRequest> DecodeUdpRequest(std::string_view packet);

// Responses (server side).
std::string EncodeUdpConnectResponse(uint32_t transaction_id, uint64_t connection_id);
absl::StatusOr<std::string> EncodeUdpAnnounceResponse(uint32_t transaction_id,
                                                      const AnnounceReply& reply, IpFamily family);
std::string EncodeUdpScrapeResponse(uint32_t transaction_id,
                                    const std::vector<ScrapeCounts>& counts);
std::string EncodeUdpErrorResponse(uint32_t transaction_id, std::string_view message);

}  // namespace swarm::bt::tracker

#endif  // SWARM_BT_TRACKER_UDP_PACKET_H_
