// The BEP 10 extension handshake (extended message 0) as a peer sends it, reduced to what we
// use, under limits fit for what it is: a small flat dictionary. A peer may send anything
// here, and bencode's general limits (4 M values, 64 MiB) would let one message cost far
// more memory and time than a handshake ever needs.
//
//   SWARM_ASSIGN_OR_RETURN(bt::ExtensionHandshake h, bt::ParseExtensionHandshake(payload));
//   if (h.reqq) pipeline.SetPeerQueueLimit(*h.reqq);
//
// Pure.
#ifndef SWARM_BT_EXTENSION_HANDSHAKE_H_
#define SWARM_BT_EXTENSION_HANDSHAKE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "bt/bencode.h"

namespace swarm::bt {

// Real handshakes are a few hundred bytes with a few dozen values (libtorrent's, with
// metadata and a dozen extensions, is under 300 bytes).
inline constexpr DecodeLimits kExtensionHandshakeLimits = {
    .max_depth = 3,
    .max_tokens = 512,
    .max_input_bytes = 16 * 1024,
    // Some clients write their keys unsorted; nothing here depends on the order.
    .allow_unsorted_keys = true,
};

struct ExtensionHandshake {
  // Its request queue limit ("reqq"), 1 ..2^20 (larger values are clamped).
  std::optional<uint32_t> reqq;
  // The TCP port it listens on ("p"), when it says.
  std::optional<uint16_t> listen_port;
  // The size of the torrent's info dictionary ("metadata_size", BEP 9), when it says and
  // it is within 1..kMaxMetadataSize (ut_metadata.h): a peer that can send it to us.
  std::optional<uint32_t> metadata_size;
  // Its client name and version ("v"), at most 64 bytes.
  std::string client;
  // The extension messages it supports ("m"): name -> its message id (1..255); an id of 0
  // (the extension turned off) and malformed entries are left out. At most 64.
  std::map<std::string, uint8_t> extensions;
};

// Fields of the wrong type are ignored, as BEP 10 asks; only a payload that is not a
// bencoded dictionary within kExtensionHandshakeLimits is an error.
absl::StatusOr<ExtensionHandshake> ParseExtensionHandshake(std::string_view payload);

}  // namespace swarm::bt

#endif  // SWARM_BT_EXTENSION_HANDSHAKE_H_
