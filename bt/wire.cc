#include "bt/wire.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/absl_view.h"

namespace swarm::bt {
namespace {

using ::swarm::Absl;

// Shrink the receive buffer when it empties if a large message (a bitfield) left it bigger
// than this: memory per peer should track the blocks in flight, not the largest message seen.
constexpr size_t kKeepCapacity = 256 * 1024;

uint32_t LoadBE32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

uint16_t LoadBE16(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}

void PutBE32(std::string* out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 4);
}

// Length prefix and id of a message with `payload_length` bytes after the id.
void PutHeader(std::string* out, MessageType type, size_t payload_length) {
  PutBE32(out, static_cast<uint32_t>(1 + payload_length));
  out->push_back(static_cast<char>(static_cast<uint8_t>(type)));
}

// The messages made of a piece index alone.
void PutIndexMessage(std::string* out, MessageType type, uint32_t index) {
  PutHeader(out, type, 4);
  PutBE32(out, index);
}

// request, cancel and reject share one layout.
void PutRangeMessage(std::string* out, MessageType type, uint32_t index, uint32_t begin,
                     uint32_t length) {
  PutHeader(out, type, 12);
  PutBE32(out, index);
  PutBE32(out, begin);
  PutBE32(out, length);
}

bool IsKnownId(uint8_t id) { return id <= 9 || (id >= 13 && id <= 17) || id == 20; }

// Checks a handshake prefix of any length (up to kHandshakeSize) as far as it goes.
absl::Status CheckHandshakePrefix(std::string_view bytes) {
  if (bytes.empty()) return absl::OkStatus();
  const uint8_t pstrlen = static_cast<uint8_t>(bytes[0]);
  if (pstrlen != kProtocolName.size()) {
    return absl::InvalidArgumentError(absl::StrCat("handshake pstrlen is ", pstrlen, "; expected ",
                                                   kProtocolName.size(),
                                                   " (is the peer speaking BitTorrent?)"));
  }
  const std::string_view pstr = bytes.substr(1, kProtocolName.size());
  const size_t mismatch =
      std::mismatch(pstr.begin(), pstr.end(), kProtocolName.begin()).first - pstr.begin();
  if (mismatch < pstr.size()) {
    // Quote only up to the first wrong byte, so the error does not depend on how much of the
    // stream had arrived.
    return absl::InvalidArgumentError(absl::StrCat(
        "handshake protocol string starts \"", absl::CHexEscape(Absl(pstr.substr(0, mismatch + 1))),
        "\"; expected \"", Absl(kProtocolName), "\""));
  }
  return absl::OkStatus();
}

Handshake DecodeHandshake(std::string_view bytes) {
  Handshake h;
  const char* p = bytes.data() + 1 + kProtocolName.size();
  std::memcpy(h.reserved.data(), p, h.reserved.size());
  p += h.reserved.size();
  std::memcpy(h.info_hash.data(), p, h.info_hash.size());
  p += h.info_hash.size();
  std::memcpy(h.peer_id.data(), p, h.peer_id.size());
  return h;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Handshake

void AppendHandshake(std::string* out, const Handshake& handshake) {
  out->push_back(static_cast<char>(kProtocolName.size()));
  out->append(kProtocolName.data(), kProtocolName.size());
  out->append(reinterpret_cast<const char*>(handshake.reserved.data()), handshake.reserved.size());
  out->append(reinterpret_cast<const char*>(handshake.info_hash.data()),
              handshake.info_hash.size());
  out->append(reinterpret_cast<const char*>(handshake.peer_id.data()), handshake.peer_id.size());
}

std::string EncodeHandshake(const Handshake& handshake) {
  std::string out;
  out.reserve(kHandshakeSize);
  AppendHandshake(&out, handshake);
  return out;
}

absl::StatusOr<Handshake> ParseHandshake(std::string_view bytes) {
  const absl::Status prefix = CheckHandshakePrefix(bytes.substr(0, kHandshakeSize));
  if (!prefix.ok()) return prefix;
  if (bytes.size() != kHandshakeSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("handshake is ", bytes.size(), " bytes; expected ", kHandshakeSize));
  }
  return DecodeHandshake(bytes);
}

// ---------------------------------------------------------------------------------------------
// Encoders

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kChoke:
      return "choke";
    case MessageType::kUnchoke:
      return "unchoke";
    case MessageType::kInterested:
      return "interested";
    case MessageType::kNotInterested:
      return "not interested";
    case MessageType::kHave:
      return "have";
    case MessageType::kBitfield:
      return "bitfield";
    case MessageType::kRequest:
      return "request";
    case MessageType::kPiece:
      return "piece";
    case MessageType::kCancel:
      return "cancel";
    case MessageType::kPort:
      return "port";
    case MessageType::kSuggest:
      return "suggest";
    case MessageType::kHaveAll:
      return "have all";
    case MessageType::kHaveNone:
      return "have none";
    case MessageType::kReject:
      return "reject";
    case MessageType::kAllowedFast:
      return "allowed fast";
    case MessageType::kExtended:
      return "extended";
    case MessageType::kKeepAlive:
      return "keep-alive";
    case MessageType::kUnknown:
      return "unknown";
    case MessageType::kHandshake:
      return "handshake";
  }
  return "invalid";
}

void AppendKeepAlive(std::string* out) { PutBE32(out, 0); }
void AppendChoke(std::string* out) { PutHeader(out, MessageType::kChoke, 0); }
void AppendUnchoke(std::string* out) { PutHeader(out, MessageType::kUnchoke, 0); }
void AppendInterested(std::string* out) { PutHeader(out, MessageType::kInterested, 0); }
void AppendNotInterested(std::string* out) { PutHeader(out, MessageType::kNotInterested, 0); }
void AppendHaveAll(std::string* out) { PutHeader(out, MessageType::kHaveAll, 0); }
void AppendHaveNone(std::string* out) { PutHeader(out, MessageType::kHaveNone, 0); }

void AppendHave(std::string* out, uint32_t index) {
  PutIndexMessage(out, MessageType::kHave, index);
}
void AppendSuggest(std::string* out, uint32_t index) {
  PutIndexMessage(out, MessageType::kSuggest, index);
}
void AppendAllowedFast(std::string* out, uint32_t index) {
  PutIndexMessage(out, MessageType::kAllowedFast, index);
}

void AppendBitfield(std::string* out, const Bitfield& bitfield) {
  PutHeader(out, MessageType::kBitfield, Bitfield::ByteLength(bitfield.size()));
  bitfield.AppendBytes(out);
}

void AppendRequest(std::string* out, uint32_t index, uint32_t begin, uint32_t length) {
  PutRangeMessage(out, MessageType::kRequest, index, begin, length);
}
void AppendCancel(std::string* out, uint32_t index, uint32_t begin, uint32_t length) {
  PutRangeMessage(out, MessageType::kCancel, index, begin, length);
}
void AppendReject(std::string* out, uint32_t index, uint32_t begin, uint32_t length) {
  PutRangeMessage(out, MessageType::kReject, index, begin, length);
}

void AppendPieceHeader(std::string* out, uint32_t index, uint32_t begin, uint32_t block_length) {
  PutHeader(out, MessageType::kPiece, size_t{8} + block_length);
  PutBE32(out, index);
  PutBE32(out, begin);
}

void AppendPiece(std::string* out, uint32_t index, uint32_t begin, std::string_view block) {
  AppendPieceHeader(out, index, begin, static_cast<uint32_t>(block.size()));
  out->append(block.data(), block.size());
}

void AppendPort(std::string* out, uint16_t port) {
  PutHeader(out, MessageType::kPort, 2);
  out->push_back(static_cast<char>(port >> 8));
  out->push_back(static_cast<char>(port));
}

void AppendExtended(std::string* out, uint8_t extended_id, std::string_view payload) {
  PutHeader(out, MessageType::kExtended, 1 + payload.size());
  out->push_back(static_cast<char>(extended_id));
  out->append(payload.data(), payload.size());
}

void AppendMessage(std::string* out, const Message& m) {
  switch (m.type) {
    case MessageType::kChoke:
    case MessageType::kUnchoke:
    case MessageType::kInterested:
    case MessageType::kNotInterested:
    case MessageType::kHaveAll:
    case MessageType::kHaveNone:
      PutHeader(out, m.type, 0);
      return;
    case MessageType::kHave:
    case MessageType::kSuggest:
    case MessageType::kAllowedFast:
      PutIndexMessage(out, m.type, m.index);
      return;
    case MessageType::kRequest:
    case MessageType::kCancel:
    case MessageType::kReject:
      PutRangeMessage(out, m.type, m.index, m.begin, m.length);
      return;
    case MessageType::kBitfield:
      AppendBitfield(out, m.bitfield);
      return;
    case MessageType::kPiece:
      AppendPiece(out, m.index, m.begin, m.data);
      return;
    case MessageType::kPort:
      AppendPort(out, m.port);
      return;
    case MessageType::kExtended:
      AppendExtended(out, m.extended_id, m.data);
      return;
    case MessageType::kKeepAlive:
      AppendKeepAlive(out);
      return;
    case MessageType::kUnknown:
      PutBE32(out, static_cast<uint32_t>(1 + m.data.size()));
      out->push_back(static_cast<char>(m.id));
      out->append(m.data.data(), m.data.size());
      return;
    case MessageType::kHandshake:
      AppendHandshake(out, m.handshake);
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// MessageParser

MessageParser::MessageParser(const Limits& limits, StreamStart start)
    : limits_(limits), awaiting_handshake_(start == StreamStart::kHandshake) {
  // A torrent with more than 8M pieces has a bitfield over the default cap; its own bitfield
  // message must still fit.
  const uint64_t bitfield_message = 1 + uint64_t{Bitfield::ByteLength(limits_.num_pieces)};
  if (bitfield_message > limits_.max_message_length) {
    limits_.max_message_length = static_cast<uint32_t>(bitfield_message);
  }
}

void MessageParser::Feed(std::string_view bytes) {
  if (failed() || bytes.empty()) return;
  if (pos_ == buf_.size()) {
    // Everything consumed: start over without moving a byte.
    if (buf_.capacity() > kKeepCapacity) {
      std::string().swap(buf_);
    } else {
      buf_.clear();
    }
    pos_ = 0;
  } else if (pos_ >= buf_.size() - pos_) {
    // Move the unconsumed tail down only when it is no longer than the consumed head, so
    // each byte is moved at most once on average: amortized O(1) per byte.
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes.data(), bytes.size());
}

void MessageParser::Consume(size_t n) {
  pos_ += n;
  offset_ += n;
}

absl::Status MessageParser::Fail(const absl::Status& status) {
  status_ = absl::Status(
      status.code(), absl::StrCat(status.message(), " (message at stream offset ", offset_, ")"));
  std::string().swap(buf_);
  pos_ = 0;
  return status_;
}

absl::StatusOr<std::optional<Message>> MessageParser::NextHandshake() {
  const std::string_view avail(buf_.data() + pos_, std::min(buf_.size() - pos_, kHandshakeSize));
  const absl::Status prefix = CheckHandshakePrefix(avail);
  if (!prefix.ok()) return Fail(prefix);
  if (avail.size() < kHandshakeSize) return std::optional<Message>();
  Message m;
  m.type = MessageType::kHandshake;
  m.handshake = DecodeHandshake(avail);
  Consume(kHandshakeSize);
  awaiting_handshake_ = false;
  return std::optional<Message>(std::move(m));
}

absl::StatusOr<std::optional<Message>> MessageParser::Next() {
  if (failed()) return status_;
  if (awaiting_handshake_) return NextHandshake();

  const size_t avail = buf_.size() - pos_;
  if (avail < 4) return std::optional<Message>();
  const char* p = buf_.data() + pos_;
  const uint32_t length = LoadBE32(p);
  if (length > limits_.max_message_length) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("message length prefix ", length,
                                                        " exceeds max_message_length ",
                                                        limits_.max_message_length)));
  }
  if (length == 0) {
    Consume(4);
    return std::optional<Message>(Message());  // keep-alive
  }
  if (avail < 5) return std::optional<Message>();
  const uint8_t id = static_cast<uint8_t>(p[4]);
  const absl::Status header = CheckPayloadLength(id, length - 1);
  if (!header.ok()) return Fail(header);
  if (avail - 4 < length) return std::optional<Message>();

  absl::StatusOr<Message> m = Decode(id, std::string_view(p + 5, length - 1));
  if (!m.ok()) return Fail(m.status());
  Consume(size_t{4} + length);
  return std::optional<Message>(*std::move(m));
}

absl::Status MessageParser::CheckPayloadLength(uint8_t id, uint32_t payload_length) const {
  if (!IsKnownId(id)) return absl::OkStatus();
  const auto type = static_cast<MessageType>(id);
  auto wrong_size = [&](uint32_t expected) {
    return absl::InvalidArgumentError(absl::StrCat(Absl(MessageTypeName(type)),
                                                   " message payload is ", payload_length,
                                                   " bytes; expected ", expected));
  };
  auto too_short = [&](uint32_t at_least) {
    return absl::InvalidArgumentError(absl::StrCat(Absl(MessageTypeName(type)),
                                                   " message payload is ", payload_length,
                                                   " bytes; expected at least ", at_least));
  };
  switch (type) {
    case MessageType::kChoke:
    case MessageType::kUnchoke:
    case MessageType::kInterested:
    case MessageType::kNotInterested:
    case MessageType::kHaveAll:
    case MessageType::kHaveNone:
      if (payload_length != 0) return wrong_size(0);
      break;
    case MessageType::kHave:
    case MessageType::kSuggest:
    case MessageType::kAllowedFast:
      if (payload_length != 4) return wrong_size(4);
      break;
    case MessageType::kRequest:
    case MessageType::kCancel:
    case MessageType::kReject:
      if (payload_length != 12) return wrong_size(12);
      break;
    case MessageType::kPort:
      if (payload_length != 2) return wrong_size(2);
      break;
    case MessageType::kBitfield: {
      const size_t want = Bitfield::ByteLength(limits_.num_pieces);
      if (payload_length != want) {
        return absl::InvalidArgumentError(
            absl::StrCat("bitfield message payload is ", payload_length, " bytes; ",
                         limits_.num_pieces, " pieces need exactly ", want));
      }
      break;
    }
    case MessageType::kPiece:
      if (payload_length < 8) return too_short(8);
      if (payload_length - 8 > limits_.max_request_length) {
        return absl::InvalidArgumentError(
            absl::StrCat("piece message block is ", payload_length - 8,
                         " bytes; exceeds max_request_length ", limits_.max_request_length));
      }
      break;
    case MessageType::kExtended:
      if (payload_length < 1) return too_short(1);
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status MessageParser::CheckIndex(MessageType type, uint32_t index) const {
  if (index < limits_.num_pieces) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(Absl(MessageTypeName(type)), " message piece index ", index,
                   " is out of range (num_pieces ", limits_.num_pieces, ")"));
}

absl::StatusOr<Message> MessageParser::Decode(uint8_t id, std::string_view payload) const {
  Message m;
  m.id = id;
  if (!IsKnownId(id)) {
    m.type = MessageType::kUnknown;
    m.data = payload;
    return m;
  }
  m.type = static_cast<MessageType>(id);
  const char* p = payload.data();
  switch (m.type) {
    case MessageType::kHave:
    case MessageType::kSuggest:
    case MessageType::kAllowedFast:
      m.index = LoadBE32(p);
      if (absl::Status s = CheckIndex(m.type, m.index); !s.ok()) return s;
      break;
    case MessageType::kRequest:
    case MessageType::kCancel:
    case MessageType::kReject:
      m.index = LoadBE32(p);
      m.begin = LoadBE32(p + 4);
      m.length = LoadBE32(p + 8);
      if (absl::Status s = CheckIndex(m.type, m.index); !s.ok()) return s;
      if (m.length == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(Absl(MessageTypeName(m.type)), " message length is 0"));
      }
      if (m.length > limits_.max_request_length) {
        return absl::InvalidArgumentError(
            absl::StrCat(Absl(MessageTypeName(m.type)), " message length ", m.length,
                         " exceeds max_request_length ", limits_.max_request_length));
      }
      break;
    case MessageType::kPiece:
      m.index = LoadBE32(p);
      m.begin = LoadBE32(p + 4);
      m.data = payload.substr(8);
      m.length = static_cast<uint32_t>(m.data.size());
      if (absl::Status s = CheckIndex(m.type, m.index); !s.ok()) return s;
      break;
    case MessageType::kBitfield: {
      absl::StatusOr<Bitfield> bitfield = Bitfield::FromBytes(payload, limits_.num_pieces);
      if (!bitfield.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("bitfield message: ", bitfield.status().message()));
      }
      m.bitfield = *std::move(bitfield);
      m.data = payload;
      break;
    }
    case MessageType::kPort:
      m.port = LoadBE16(p);
      break;
    case MessageType::kExtended:
      m.extended_id = static_cast<uint8_t>(p[0]);
      m.data = payload.substr(1);
      break;
    default:  // The messages with no payload.
      break;
  }
  return m;
}

}  // namespace swarm::bt
