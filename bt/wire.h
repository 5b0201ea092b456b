// The BitTorrent peer wire protocol codec: the handshake and the length-prefixed messages of
// BEP 3, the fast extension's messages (BEP 6) and the extension protocol's framing (BEP 10).
// Pure: it turns bytes into messages and back, and knows nothing of sockets or peer state.
// Everything a peer sends is untrusted: MessageParser checks every length against Limits
// before buffering a body, every piece index against the piece count, and fails with the
// stream offset of the offending message.
//
//   bt::MessageParser::Limits limits;
//   limits.num_pieces = layout.num_pieces();
//   bt::MessageParser parser(limits, bt::MessageParser::StreamStart::kHandshake);
//   parser.Feed(bytes_from_socket);
//   while (true) {
//     SWARM_ASSIGN_OR_RETURN(std::optional<bt::Message> m, parser.Next());
//     if (!m) break;  // need more bytes
//     if (m->type == bt::MessageType::kPiece) Store(m->index, m->begin, m->data);
//   }
//
//   std::string out;  // reused for every send
//   bt::AppendRequest(&out, piece, begin, bt::kBlockSize);
//   bt::AppendPieceHeader(&out, piece, begin, block.size());  // then writev(out, block)
#ifndef SWARM_BT_WIRE_H_
#define SWARM_BT_WIRE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bt/bitfield.h"
#include "bt/piece_layout.h"

namespace swarm::bt {

// ---------------------------------------------------------------------------------------------
// Handshake

inline constexpr std::string_view kProtocolName = "BitTorrent protocol";
// pstrlen (1) + pstr (19) + reserved (8) + info_hash (20) + peer_id (20).
inline constexpr size_t kHandshakeSize = 68;

struct Handshake {
  std::array<uint8_t, 8> reserved{};
  std::array<uint8_t, 20> info_hash{};
  std::array<uint8_t, 20> peer_id{};

  // The reserved bits this client understands. Other bits are kept as received, so a
  // handshake re-encodes byte for byte.
  bool extension_protocol() const { return (reserved[5] & 0x10) != 0; }  // BEP 10
  bool fast_extension() const { return (reserved[7] & 0x04) != 0; }      // BEP 6
  bool dht() const { return (reserved[7] & 0x01) != 0; }                 // BEP 5
  void set_extension_protocol(bool on) { SetBit(5, 0x10, on); }
  void set_fast_extension(bool on) { SetBit(7, 0x04, on); }
  void set_dht(bool on) { SetBit(7, 0x01, on); }

  friend bool operator==(const Handshake& a, const Handshake& b) {
    return a.reserved == b.reserved && a.info_hash == b.info_hash && a.peer_id == b.peer_id;
  }
  friend bool operator!=(const Handshake& a, const Handshake& b) { return !(a == b); }

 private:
  void SetBit(int byte, uint8_t mask, bool on) {
    reserved[byte] = static_cast<uint8_t>(on ? (reserved[byte] | mask) : (reserved[byte] & ~mask));
  }
};

void AppendHandshake(std::string* out, const Handshake& handshake);
std::string EncodeHandshake(const Handshake& handshake);
// Parses exactly kHandshakeSize bytes. A wrong pstrlen or protocol string is reported as such
// even when the input is also short, so a peer speaking another protocol gets a clear error.
absl::StatusOr<Handshake> ParseHandshake(std::string_view bytes);

// ---------------------------------------------------------------------------------------------
// Messages

// Values 0..255 are the wire ids; the others are kinds with no id byte of their own.
enum class MessageType : int {
  kChoke = 0,
  kUnchoke = 1,
  kInterested = 2,
  kNotInterested = 3,
  kHave = 4,
  kBitfield = 5,
  kRequest = 6,
  kPiece = 7,
  kCancel = 8,
  kPort = 9,      // BEP 5: the peer's DHT port
  kSuggest = 13,  // BEP 6 from here to kAllowedFast
  kHaveAll = 14,
  kHaveNone = 15,
  kReject = 16,
  kAllowedFast = 17,
  kExtended = 20,    // BEP 10
  kKeepAlive = 256,  // a zero length prefix
  kUnknown = 257,    // an id this codec does not know; `id` and `data` hold it
  kHandshake = 258,  // only from a parser started with StreamStart::kHandshake
};

// "have", "piece", "unknown", ... for logs and errors.
std::string_view MessageTypeName(MessageType type);

// One decoded message. Fields not used by `type` are zero / empty.
struct Message {
  MessageType type = MessageType::kKeepAlive;
  // The wire id byte (for kUnknown the only way to tell what it was); 0 for keep-alive and
  // handshake.
  uint8_t id = 0;
  // have, request, piece, cancel, suggest, reject, allowed fast. Always < Limits::num_pieces.
  uint32_t index = 0;
  // request, piece, cancel, reject.
  uint32_t begin = 0;
  // request, cancel, reject: 1..Limits::max_request_length. piece: data.size().
  uint32_t length = 0;
  // port.
  uint16_t port = 0;
  // extended: the extension's message id (0 is the BEP 10 extended handshake).
  uint8_t extended_id = 0;
  // piece: the block. bitfield: the raw payload. extended: the payload after extended_id.
  // unknown: the payload after the id. A view into the parser's buffer: valid until the next
  // MessageParser::Feed or Next call, so copy what must outlive it.
  std::string_view data;
  // bitfield: the validated bitfield (its size is Limits::num_pieces).
  Bitfield bitfield;
  // handshake.
  Handshake handshake;
};

// Encoders append one whole message to `out`, so a sender can batch several messages into one
// buffer and reuse it: nothing here allocates beyond growing `out`.
void AppendKeepAlive(std::string* out);
void AppendChoke(std::string* out);
void AppendUnchoke(std::string* out);
void AppendInterested(std::string* out);
void AppendNotInterested(std::string* out);
void AppendHave(std::string* out, uint32_t index);
void AppendBitfield(std::string* out, const Bitfield& bitfield);
void AppendRequest(std::string* out, uint32_t index, uint32_t begin, uint32_t length);
// Only the 13-byte header of a piece message that carries `block_length` bytes of data: the
// block itself can then be sent from where it lies (writev) instead of being copied here.
void AppendPieceHeader(std::string* out, uint32_t index, uint32_t begin, uint32_t block_length);
// Header and block. `block` must be shorter than 4 GiB - 9 (a block is at most 128 KiB).
void AppendPiece(std::string* out, uint32_t index, uint32_t begin, std::string_view block);
void AppendCancel(std::string* out, uint32_t index, uint32_t begin, uint32_t length);
void AppendPort(std::string* out, uint16_t port);
void AppendSuggest(std::string* out, uint32_t index);
void AppendHaveAll(std::string* out);
void AppendHaveNone(std::string* out);
void AppendReject(std::string* out, uint32_t index, uint32_t begin, uint32_t length);
void AppendAllowedFast(std::string* out, uint32_t index);
// `payload` (usually bencoded) must be shorter than 4 GiB - 2.
void AppendExtended(std::string* out, uint8_t extended_id, std::string_view payload);
// Encodes any Message as the parser produced it (a bitfield from `bitfield`, other payloads
// from `data`): parsing and re-encoding gives back the original bytes. For relays and tests.
void AppendMessage(std::string* out, const Message& message);

// ---------------------------------------------------------------------------------------------
// Incremental parser

// Default cap on a message's length prefix: a 1 MiB bitfield (8M pieces) or a 128 KiB block
// both fit, with room for their headers.
inline constexpr uint32_t kDefaultMaxMessageLength = (1u << 20) + 13;
// Largest request we serve or accept in request/cancel/reject. Clients send 16 KiB; some
// allow up to 128 KiB.
inline constexpr uint32_t kDefaultMaxRequestLength = 8 * kBlockSize;

// Cuts a peer's byte stream (fed in any split, even a byte at a time) into Messages, checking
// every length, index and size as early as possible. After the first error it stays failed
// and returns that error from every Next call: a peer that broke the protocol is dropped.
//
// Reading a connection from byte 0: start in StreamStart::kHandshake and the first message is
// the peer's handshake (type kHandshake), checked byte by byte as it arrives, so a peer
// speaking another protocol is refused after its first bytes. Messages follow in the same
// buffer, so bytes that arrive in one read with the handshake are not lost.
class MessageParser {
 public:
  struct Limits {
    // Piece indices must be below this; a bitfield must be exactly ceil(num_pieces / 8)
    // bytes. Zero rejects every message that carries an index or a bitfield.
    uint32_t num_pieces = 0;
    // Cap on a length prefix (which counts the id byte and payload, not the prefix itself),
    // checked as soon as the prefix arrives. Raised automatically if this torrent's bitfield
    // message would not fit.
    uint32_t max_message_length = kDefaultMaxMessageLength;
    // Cap on the length in request, cancel and reject, and on the block in a piece message.
    uint32_t max_request_length = kDefaultMaxRequestLength;
  };

  enum class StreamStart { kMessages, kHandshake };

  explicit MessageParser(const Limits& limits, StreamStart start = StreamStart::kMessages);

  // Appends arriving bytes. Invalidates the views of earlier messages. Call Next until it
  // yields nullopt after each Feed: the checks run in Next, and bytes fed without taking
  // messages out are buffered without limit. Ignored once the parser has failed.
  void Feed(std::string_view bytes);

  // The next whole message; nullopt when more bytes are needed; an InvalidArgument error,
  // with the message's stream offset, when the peer broke the protocol or a limit.
  absl::StatusOr<std::optional<Message>> Next();

  // Stream offset of the next message: bytes taken out as messages so far.
  uint64_t offset() const { return offset_; }
  // Bytes fed but not yet taken out as messages.
  size_t buffered() const { return buf_.size() - pos_; }
  bool failed() const { return !status_.ok(); }
  bool awaiting_handshake() const { return awaiting_handshake_; }
  const Limits& limits() const { return limits_; }

 private:
  absl::StatusOr<std::optional<Message>> NextHandshake();
  // Checks that a message with wire id `id` may have a payload of `payload_length` bytes;
  // runs as soon as the id byte arrives, before the payload is buffered.
  absl::Status CheckPayloadLength(uint8_t id, uint32_t payload_length) const;
  // Decodes a complete message (length prefix already checked) from `payload`.
  absl::StatusOr<Message> Decode(uint8_t id, std::string_view payload) const;
  absl::Status CheckIndex(MessageType type, uint32_t index) const;
  absl::Status Fail(const absl::Status& status);
  void Consume(size_t n);

  Limits limits_;
  bool awaiting_handshake_;
  // Unconsumed bytes are buf_[pos_, buf_.size()). Consumed bytes are dropped lazily in Feed,
  // so Next never moves memory and a message's views stay put.
  std::string buf_;
  size_t pos_ = 0;
  uint64_t offset_ = 0;
  absl::Status status_;
};

}  // namespace swarm::bt

#endif  // SWARM_BT_WIRE_H_
