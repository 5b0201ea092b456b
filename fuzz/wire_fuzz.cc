// libFuzzer target: the peer wire parser on arbitrary streams. The first bytes choose the
// parser's limits and how the stream is cut into Feed calls; the rest is the stream.
// Properties checked: cutting the stream differently never changes the messages or the error;
// every message re-encodes to exactly the bytes it was parsed from; decoded fields obey the
// limits; a failed parser stays failed; ParseHandshake agrees with the parser's handshake mode.
//
// Input: [flags][pieces lo][pieces hi][max length][chunk seeds x4][stream...]
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bt/bitfield.h"
#include "bt/wire.h"

namespace {

// A Message with its views copied out, so it survives the parser's next Feed.
struct Owned {
  swarm::bt::MessageType type;
  uint8_t id;
  uint32_t index, begin, length;
  uint16_t port;
  uint8_t extended_id;
  std::string data;
  swarm::bt::Bitfield bitfield;
  swarm::bt::Handshake handshake;
  std::string raw;  // the stream bytes the message was parsed from

  bool operator==(const Owned& o) const {
    return type == o.type && id == o.id && index == o.index && begin == o.begin &&
           length == o.length && port == o.port && extended_id == o.extended_id && data == o.data &&
           bitfield == o.bitfield && handshake == o.handshake && raw == o.raw;
  }
};

struct Run {
  std::vector<Owned> messages;
  absl::Status status;
};

void Check(bool ok) {
  if (!ok) std::abort();
}

bool HasIndex(swarm::bt::MessageType t) {
  using T = swarm::bt::MessageType;
  return t == T::kHave || t == T::kRequest || t == T::kPiece || t == T::kCancel ||
         t == T::kReject || t == T::kSuggest || t == T::kAllowedFast;
}

// Checks one message against the limits and its raw bytes.
void CheckMessage(const swarm::bt::Message& m, std::string_view raw,
                  const swarm::bt::MessageParser::Limits& limits) {
  using T = swarm::bt::MessageType;
  std::string encoded;
  swarm::bt::AppendMessage(&encoded, m);
  Check(encoded == raw);
  if (HasIndex(m.type)) Check(m.index < limits.num_pieces);
  switch (m.type) {
    case T::kRequest:
    case T::kCancel:
    case T::kReject:
      Check(m.length >= 1 && m.length <= limits.max_request_length);
      break;
    case T::kPiece: {
      Check(m.length == m.data.size() && m.length <= limits.max_request_length);
      std::string header;
      swarm::bt::AppendPieceHeader(&header, m.index, m.begin, m.length);
      Check(header.size() == 13 && header + std::string(m.data) == raw);
      break;
    }
    case T::kBitfield:
      Check(m.bitfield.size() == limits.num_pieces);
      Check(m.bitfield.ToBytes() == m.data);
      Check(m.bitfield.Count() <= m.bitfield.size());
      break;
    case T::kHandshake:
      Check(raw.size() == swarm::bt::kHandshakeSize);
      break;
    case T::kKeepAlive:
      Check(raw.size() == 4);
      break;
    case T::kUnknown:
      Check(m.id != 4 && m.id != 20 && m.id != 17);  // spot-check: known ids are not unknown
      break;
    default:
      break;
  }
  if (m.type != T::kKeepAlive && m.type != T::kHandshake) {
    Check(raw.size() >= 5 && static_cast<uint8_t>(raw[4]) == m.id);
  }
}

// Parses `stream`, feeding it in chunks of the sizes in `chunks` (cycled; 0 = the rest).
Run Parse(std::string_view stream, const swarm::bt::MessageParser::Limits& limits,
          swarm::bt::MessageParser::StreamStart start, const std::vector<size_t>& chunks) {
  swarm::bt::MessageParser parser(limits, start);
  Run run;
  size_t fed = 0;
  size_t next_chunk = 0;
  while (true) {
    while (true) {
      const uint64_t before = parser.offset();
      absl::StatusOr<std::optional<swarm::bt::Message>> m = parser.Next();
      if (!m.ok()) {
        run.status = m.status();
        Check(parser.failed());
        // Sticky, even with more input.
        parser.Feed(stream.substr(fed));
        absl::StatusOr<std::optional<swarm::bt::Message>> again = parser.Next();
        Check(!again.ok() && again.status() == run.status);
        return run;
      }
      if (!m->has_value()) break;
      const swarm::bt::Message& msg = **m;
      Check(parser.offset() > before && parser.offset() <= fed);
      const std::string_view raw = stream.substr(before, parser.offset() - before);
      CheckMessage(msg, raw, limits);
      run.messages.push_back(Owned{msg.type, msg.id, msg.index, msg.begin, msg.length, msg.port,
                                   msg.extended_id, std::string(msg.data), msg.bitfield,
                                   msg.handshake, std::string(raw)});
    }
    Check(parser.offset() + parser.buffered() == fed);
    if (fed == stream.size()) return run;
    size_t n = chunks[next_chunk++ % chunks.size()];
    if (n == 0 || n > stream.size() - fed) n = stream.size() - fed;
    parser.Feed(stream.substr(fed, n));
    fed += n;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  const uint8_t flags = data[0];
  swarm::bt::MessageParser::Limits limits;
  limits.num_pieces = data[1] | (data[2] << 8);
  if (flags & 0x02) limits.num_pieces *= 997;  // occasionally large bitfields
  if (flags & 0x04) limits.max_message_length = data[3] * 16u;
  if (flags & 0x08) limits.max_request_length = data[3] * 64u;
  const auto start = (flags & 0x01) ? swarm::bt::MessageParser::StreamStart::kHandshake
                                    : swarm::bt::MessageParser::StreamStart::kMessages;
  std::vector<size_t> chunks;
  for (int i = 4; i < 8; ++i) chunks.push_back(data[i] % 64);  // 0 feeds the rest at once
  const std::string_view stream(reinterpret_cast<const char*>(data) + 8, size - 8);

  const Run whole = Parse(stream, limits, start, {0});
  const Run bytewise = Parse(stream, limits, start, {1});
  const Run chunked = Parse(stream, limits, start, chunks);
  Check(whole.status == bytewise.status && whole.status == chunked.status);
  Check(whole.messages == bytewise.messages && whole.messages == chunked.messages);

  // The standalone handshake parser agrees with the parser's handshake mode.
  absl::StatusOr<swarm::bt::Handshake> h =
      swarm::bt::ParseHandshake(stream.substr(0, swarm::bt::kHandshakeSize));
  if (start == swarm::bt::MessageParser::StreamStart::kHandshake) {
    const bool parser_got_it =
        !whole.messages.empty() && whole.messages[0].type == swarm::bt::MessageType::kHandshake;
    Check(h.ok() == parser_got_it);
    if (h.ok()) Check(*h == whole.messages[0].handshake);
  }
  if (h.ok()) Check(swarm::bt::EncodeHandshake(*h) == stream.substr(0, swarm::bt::kHandshakeSize));
  return 0;
}
