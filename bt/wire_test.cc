#include "bt/wire.h"

#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kPieces = 100;

MessageParser::Limits TestLimits(uint32_t num_pieces = kPieces) {
  MessageParser::Limits limits;
  limits.num_pieces = num_pieces;
  return limits;
}

Handshake TestHandshake() {
  Handshake h;
  for (int i = 0; i < 20; ++i) {
    h.info_hash[i] = static_cast<uint8_t>(i + 1);
    h.peer_id[i] = static_cast<uint8_t>('A' + i);
  }
  h.set_extension_protocol(true);
  h.set_fast_extension(true);
  return h;
}

// A stream holding every message type, some unknown ids and keep-alives between them: 23
// messages.
std::string EveryMessage(size_t block_size = kBlockSize) {
  std::string s;
  AppendKeepAlive(&s);
  AppendChoke(&s);
  AppendUnchoke(&s);
  AppendInterested(&s);
  AppendNotInterested(&s);
  AppendHave(&s, 99);
  Bitfield bf(kPieces);
  bf.Set(0);
  bf.Set(42);
  bf.Set(99);
  AppendBitfield(&s, bf);
  AppendRequest(&s, 3, 16384, 16384);
  AppendPiece(&s, 3, 16384, std::string(block_size, 'x'));
  AppendPiece(&s, 4, 0, "");
  AppendCancel(&s, 3, 16384, 16384);
  AppendPort(&s, 6881);
  AppendKeepAlive(&s);
  AppendSuggest(&s, 7);
  AppendHaveAll(&s);
  AppendHaveNone(&s);
  AppendReject(&s, 5, 0, 131072);
  AppendAllowedFast(&s, 0);
  AppendExtended(&s, 0, "d1:md11:ut_metadatai1eee");
  AppendExtended(&s, 3, "");
  s += std::string("\x00\x00\x00\x03\x0a\x01\x02", 7);  // unknown id 10
  s += std::string("\x00\x00\x00\x01\xff", 5);          // unknown id 255, empty
  AppendHave(&s, 1);
  return s;
}

// Human-readable form of a message, so comparisons check decoded fields, not only bytes.
std::string Describe(const Message& m) {
  return absl::StrCat(std::string(MessageTypeName(m.type)), " id=", int{m.id}, " index=", m.index,
                      " begin=", m.begin, " length=", m.length, " port=", m.port,
                      " ext=", int{m.extended_id}, " data=", m.data.size(), ":",
                      std::string(m.data.substr(0, 32)), " bits=", m.bitfield.Count(), "/",
                      m.bitfield.size());
}

struct Result {
  std::vector<std::string> described;
  std::string reencoded;  // every message re-encoded with AppendMessage, concatenated
  absl::Status status;
  uint64_t offset = 0;
};

// Feeds `stream` in chunks whose sizes `next_chunk` picks, taking out every message after
// each Feed.
Result ParseInChunks(std::string_view stream, const std::function<size_t()>& next_chunk,
                     MessageParser::StreamStart start = MessageParser::StreamStart::kMessages,
                     MessageParser::Limits limits = TestLimits()) {
  MessageParser parser(limits, start);
  Result r;
  size_t fed = 0;
  while (r.status.ok()) {
    while (true) {
      absl::StatusOr<std::optional<Message>> m = parser.Next();
      if (!m.ok()) {
        r.status = m.status();
        break;
      }
      if (!m->has_value()) break;
      r.described.push_back(Describe(**m));
      AppendMessage(&r.reencoded, **m);
    }
    if (fed == stream.size()) break;
    const size_t n = std::min(std::max<size_t>(1, next_chunk()), stream.size() - fed);
    parser.Feed(stream.substr(fed, n));
    fed += n;
  }
  r.offset = parser.offset();
  return r;
}

Result ParseWhole(std::string_view stream,
                  MessageParser::StreamStart start = MessageParser::StreamStart::kMessages,
                  MessageParser::Limits limits = TestLimits()) {
  return ParseInChunks(
      stream, [&] { return stream.size(); }, start, limits);
}

// Parses a stream that must end in an error and returns that error.
absl::Status ErrorOf(std::string_view stream, MessageParser::Limits limits = TestLimits()) {
  Result r = ParseWhole(stream, MessageParser::StreamStart::kMessages, limits);
  EXPECT_FALSE(r.status.ok()) << "no error for a stream of " << stream.size() << " bytes";
  return r.status;
}

// --------------------------------------------------------------------------------------------
// Handshake

TEST(HandshakeTest, RoundTrip) {
  const Handshake h = TestHandshake();
  const std::string bytes = EncodeHandshake(h);
  ASSERT_EQ(bytes.size(), kHandshakeSize);
  EXPECT_EQ(bytes[0], 19);
  EXPECT_EQ(bytes.substr(1, 19), "BitTorrent protocol");
  EXPECT_EQ(bytes.substr(20, 8), std::string("\0\0\0\0\0\x10\0\x04", 8));
  EXPECT_EQ(static_cast<uint8_t>(bytes[28]), 1);
  EXPECT_EQ(bytes.substr(48), "ABCDEFGHIJKLMNOPQRST");
  auto parsed = ParseHandshake(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, h);
  EXPECT_TRUE(parsed->extension_protocol());
  EXPECT_TRUE(parsed->fast_extension());
  EXPECT_FALSE(parsed->dht());
}

TEST(HandshakeTest, ReservedBits) {
  Handshake h;
  h.set_dht(true);
  EXPECT_TRUE(h.dht());
  EXPECT_FALSE(h.fast_extension());
  EXPECT_EQ(h.reserved[7], 0x01);
  h.set_fast_extension(true);
  EXPECT_EQ(h.reserved[7], 0x05);
  h.set_dht(false);
  EXPECT_EQ(h.reserved[7], 0x04);
  h.set_extension_protocol(true);
  EXPECT_EQ(h.reserved[5], 0x10);
  h.set_extension_protocol(false);
  EXPECT_EQ(h.reserved[5], 0x00);
  // Bits we do not know survive a round trip.
  h.reserved[0] = 0x80;
  auto parsed = ParseHandshake(EncodeHandshake(h));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->reserved[0], 0x80);
}

TEST(HandshakeTest, Garbage) {
  const std::string good = EncodeHandshake(TestHandshake());

  auto short_input = ParseHandshake(good.substr(0, 67));
  ASSERT_FALSE(short_input.ok());
  EXPECT_EQ(short_input.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_input.status().message(), HasSubstr("is 67 bytes; expected 68"));
  EXPECT_THAT(ParseHandshake("").status().message(), HasSubstr("is 0 bytes"));
  EXPECT_THAT(ParseHandshake(good + "x").status().message(), HasSubstr("is 69 bytes"));

  std::string bad_len = good;
  bad_len[0] = 18;
  EXPECT_THAT(ParseHandshake(bad_len).status().message(), HasSubstr("pstrlen is 18; expected 19"));
  // An HTTP request on the port: 'G' is the pstrlen, reported although the input is short.
  EXPECT_THAT(ParseHandshake("GET / HTTP/1.1\r\n").status().message(), HasSubstr("pstrlen is 71"));

  std::string bad_pstr = good;
  bad_pstr[5] = 'X';
  EXPECT_THAT(ParseHandshake(bad_pstr).status().message(),
              HasSubstr("protocol string starts \"BitTX\"; expected \"BitTorrent protocol\""));
  EXPECT_THAT(ParseHandshake(std::string(1, '\x13') + "BitTorrent pro\x01").status().message(),
              HasSubstr("BitTorrent pro\\x01"));
}

// --------------------------------------------------------------------------------------------
// Encoders: exact bytes

TEST(EncodeTest, ExactBytes) {
  std::string s;
  AppendKeepAlive(&s);
  EXPECT_EQ(s, std::string(4, '\0'));

  s.clear();
  AppendInterested(&s);
  EXPECT_EQ(s, std::string("\0\0\0\x01\x02", 5));

  s.clear();
  AppendHave(&s, 0x01020304);
  EXPECT_EQ(s, std::string("\0\0\0\x05\x04\x01\x02\x03\x04", 9));

  s.clear();
  AppendRequest(&s, 1, 0x4000, 0x4000);
  EXPECT_EQ(s, std::string("\0\0\0\x0d\x06\0\0\0\x01\0\0\x40\0\0\0\x40\0", 17));

  s.clear();
  AppendPort(&s, 0x1ae1);
  EXPECT_EQ(s, std::string("\0\0\0\x03\x09\x1a\xe1", 7));

  s.clear();
  AppendExtended(&s, 2, "ab");
  EXPECT_EQ(s, std::string("\0\0\0\x04\x14\x02", 6) + "ab");

  s.clear();
  Bitfield bf(10);
  bf.Set(0);
  bf.Set(9);
  AppendBitfield(&s, bf);
  EXPECT_EQ(s, std::string("\0\0\0\x03\x05\x80\x40", 7));
}

TEST(EncodeTest, PieceHeaderIsThirteenBytesAndMatchesPiece) {
  const std::string block(kBlockSize, 'b');
  std::string header;
  AppendPieceHeader(&header, 7, 32768, kBlockSize);
  ASSERT_EQ(header.size(), 13u);
  EXPECT_EQ(header, std::string("\0\0\x40\x09\x07\0\0\0\x07\0\0\x80\0", 13));
  std::string whole;
  AppendPiece(&whole, 7, 32768, block);
  EXPECT_EQ(whole, header + block);
}

TEST(EncodeTest, AppendsWithoutClobbering) {
  std::string s = "prefix";
  AppendChoke(&s);
  AppendUnchoke(&s);
  EXPECT_EQ(s, std::string("prefix\0\0\0\x01\0\0\0\0\x01\x01", 16));
}

// --------------------------------------------------------------------------------------------
// Parsing: every message type

TEST(ParserTest, EveryMessageTypeRoundTrips) {
  const std::string stream = EveryMessage();
  Result r = ParseWhole(stream);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.reencoded, stream);
  EXPECT_EQ(r.offset, stream.size());
  ASSERT_EQ(r.described.size(), 23u);
  EXPECT_THAT(r.described[0], HasSubstr("keep-alive"));
  EXPECT_THAT(r.described[5], HasSubstr("have id=4 index=99"));
  EXPECT_THAT(r.described[6], HasSubstr("bitfield id=5"));
  EXPECT_THAT(r.described[6], HasSubstr("bits=3/100"));
  EXPECT_THAT(r.described[7], HasSubstr("request id=6 index=3 begin=16384 length=16384"));
  EXPECT_THAT(r.described[8], HasSubstr("piece id=7 index=3 begin=16384 length=16384"));
  EXPECT_THAT(r.described[9], HasSubstr("piece id=7 index=4 begin=0 length=0"));
  EXPECT_THAT(r.described[10], HasSubstr("cancel id=8 index=3"));
  EXPECT_THAT(r.described[11], HasSubstr("port=6881"));
  EXPECT_THAT(r.described[13], HasSubstr("suggest id=13 index=7"));
  EXPECT_THAT(r.described[14], HasSubstr("have all id=14"));
  EXPECT_THAT(r.described[15], HasSubstr("have none id=15"));
  EXPECT_THAT(r.described[16], HasSubstr("reject id=16 index=5 begin=0 length=131072"));
  EXPECT_THAT(r.described[17], HasSubstr("allowed fast id=17 index=0"));
  EXPECT_THAT(r.described[18], HasSubstr("extended id=20"));
  EXPECT_THAT(r.described[18], HasSubstr("ext=0 data=24:d1:md11:ut_metadatai1eee"));
  EXPECT_THAT(r.described[19], HasSubstr("ext=3 data=0:"));
  EXPECT_THAT(r.described[20], HasSubstr("unknown id=10"));
  EXPECT_THAT(r.described[21], HasSubstr("unknown id=255"));
  EXPECT_THAT(r.described[22], HasSubstr("have id=4 index=1"));
}

TEST(ParserTest, DecodedFields) {
  std::string s;
  Bitfield bf(kPieces);
  bf.Set(17);
  AppendBitfield(&s, bf);
  AppendPiece(&s, 9, 49152, "hello");
  MessageParser parser(TestLimits());
  parser.Feed(s);

  auto m = parser.Next();
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->type, MessageType::kBitfield);
  EXPECT_EQ((*m)->bitfield, bf);
  EXPECT_EQ((*m)->data, bf.ToBytes());

  m = parser.Next();
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->type, MessageType::kPiece);
  EXPECT_EQ((*m)->index, 9u);
  EXPECT_EQ((*m)->begin, 49152u);
  EXPECT_EQ((*m)->data, "hello");
  EXPECT_EQ((*m)->length, 5u);

  m = parser.Next();
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->has_value());
  EXPECT_EQ(parser.buffered(), 0u);
}

TEST(ParserTest, KeepAliveAlone) {
  MessageParser parser(TestLimits());
  parser.Feed(std::string(3, '\0'));
  auto m = parser.Next();
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->has_value());
  parser.Feed(std::string(1, '\0'));
  m = parser.Next();
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->type, MessageType::kKeepAlive);
  EXPECT_EQ(parser.offset(), 4u);
}

TEST(ParserTest, UnknownIdsAreSkippedNotErrors) {
  std::string s;
  AppendHave(&s, 1);
  for (int id : {10, 11, 12, 18, 19, 21, 100, 255}) {
    s += std::string("\0\0\0\x04", 4);
    s.push_back(static_cast<char>(id));
    s += "abc";
  }
  AppendHave(&s, 2);
  Result r = ParseWhole(s);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.described.size(), 10u);
  EXPECT_THAT(r.described[1], HasSubstr("unknown id=10"));
  EXPECT_THAT(r.described[1], HasSubstr("data=3:abc"));
  EXPECT_THAT(r.described[8], HasSubstr("unknown id=255"));
  EXPECT_THAT(r.described[9], HasSubstr("have id=4 index=2"));
  EXPECT_EQ(r.reencoded, s);
}

TEST(ParserTest, UnknownMessageStillObeysLengthCap) {
  std::string s("\0\x20\0\0\x0a", 5);  // 2 MiB, unknown id 10
  EXPECT_THAT(ErrorOf(s).message(), HasSubstr("exceeds max_message_length"));
}

// --------------------------------------------------------------------------------------------
// Parsing: every byte split gives the same messages

TEST(ParserTest, ByteByByteEqualsWhole) {
  const std::string stream = EveryMessage();
  Result whole = ParseWhole(stream);
  Result bytewise = ParseInChunks(stream, [] { return 1; });
  ASSERT_TRUE(bytewise.status.ok()) << bytewise.status;
  EXPECT_EQ(bytewise.described, whole.described);
  EXPECT_EQ(bytewise.reencoded, stream);
}

TEST(ParserTest, RandomChunksEqualWhole) {
  const std::string stream = EveryMessage();
  Result whole = ParseWhole(stream);
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    const size_t max_chunk = size_t{1} << (round % 16);
    std::uniform_int_distribution<size_t> dist(1, max_chunk);
    Result chunked = ParseInChunks(stream, [&] { return dist(rng); });
    ASSERT_TRUE(chunked.status.ok()) << "round " << round << ": " << chunked.status;
    ASSERT_EQ(chunked.described, whole.described) << "round " << round;
    ASSERT_EQ(chunked.reencoded, stream) << "round " << round;
  }
}

TEST(ParserTest, EverySplitPointOfEveryMessage) {
  // Two feeds, split at every position: covers each boundary inside each header and body.
  const std::string stream = EveryMessage(/*block_size=*/40);
  Result whole = ParseWhole(stream);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    int call = 0;
    Result split = ParseInChunks(stream, [&] { return call++ == 0 ? cut : stream.size(); });
    ASSERT_EQ(split.described, whole.described) << "cut " << cut;
    ASSERT_EQ(split.status, whole.status) << "cut " << cut;
  }
}

TEST(ParserTest, RandomValidStreamsRoundTrip) {
  std::mt19937 rng(777);
  for (int round = 0; round < 100; ++round) {
    std::string stream;
    for (int i = 0; i < 50; ++i) {
      const uint32_t index = rng() % kPieces;
      switch (rng() % 8) {
        case 0:
          AppendHave(&stream, index);
          break;
        case 1:
          AppendRequest(&stream, index, rng() % 1000000, 1 + rng() % kDefaultMaxRequestLength);
          break;
        case 2:
          AppendPiece(&stream, index, rng(), std::string(rng() % 3000, 'p'));
          break;
        case 3:
          AppendKeepAlive(&stream);
          break;
        case 4:
          AppendExtended(&stream, static_cast<uint8_t>(rng()), std::string(rng() % 50, 'e'));
          break;
        case 5:
          AppendPort(&stream, static_cast<uint16_t>(rng()));
          break;
        case 6:
          AppendAllowedFast(&stream, index);
          break;
        default:
          AppendUnchoke(&stream);
          break;
      }
    }
    std::uniform_int_distribution<size_t> dist(1, 5000);
    Result r = ParseInChunks(stream, [&] { return dist(rng); });
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_EQ(r.described.size(), 50u);
    ASSERT_EQ(r.reencoded, stream);
  }
}

TEST(ParserTest, ViewsOfConsecutiveMessagesAreNotCopies) {
  // Both blocks are taken out of one Feed; each view must show its own bytes.
  std::string s;
  AppendPiece(&s, 1, 0, std::string(kBlockSize, 'a'));
  AppendPiece(&s, 2, 0, std::string(kBlockSize, 'b'));
  MessageParser parser(TestLimits());
  parser.Feed(s);
  auto first = parser.Next();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->data, std::string(kBlockSize, 'a'));
  auto second = parser.Next();
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->data, std::string(kBlockSize, 'b'));
  // The block is a view into the parser's buffer: adjacent to the previous message's bytes.
  EXPECT_EQ((*second)->data.data(), (*first)->data.data() + kBlockSize + 13);
}

TEST(ParserTest, BufferedBytesStayBoundedOverALongStream) {
  // A long stream fed in odd chunks: the parser holds at most a chunk plus one partial message.
  std::string one;
  AppendPiece(&one, 1, 0, std::string(1000, 'z'));
  AppendHave(&one, 3);
  MessageParser parser(TestLimits());
  size_t messages = 0;
  std::string stream;
  for (int i = 0; i < 2000; ++i) stream += one;
  for (size_t fed = 0; fed < stream.size(); fed += 777) {
    parser.Feed(std::string_view(stream).substr(fed, 777));
    EXPECT_LE(parser.buffered(), 777u + one.size());
    while (true) {
      auto m = parser.Next();
      ASSERT_TRUE(m.ok()) << m.status();
      if (!m->has_value()) break;
      ++messages;
    }
  }
  EXPECT_EQ(messages, 4000u);
  EXPECT_EQ(parser.offset(), stream.size());
  EXPECT_EQ(parser.buffered(), 0u);
}

// --------------------------------------------------------------------------------------------
// Handshake mode

TEST(HandshakeModeTest, HandshakeThenMessagesInOneStream) {
  const Handshake h = TestHandshake();
  std::string stream = EncodeHandshake(h);
  stream += EveryMessage();
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{68}, size_t{69}, stream.size()}) {
    Result r = ParseInChunks(
        stream, [&] { return chunk; }, MessageParser::StreamStart::kHandshake);
    ASSERT_TRUE(r.status.ok()) << chunk << ": " << r.status;
    ASSERT_EQ(r.described.size(), 24u);
    EXPECT_THAT(r.described[0], HasSubstr("handshake"));
    EXPECT_EQ(r.reencoded, stream);
  }
  MessageParser parser(TestLimits(), MessageParser::StreamStart::kHandshake);
  EXPECT_TRUE(parser.awaiting_handshake());
  parser.Feed(stream.substr(0, 70));
  auto m = parser.Next();
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->type, MessageType::kHandshake);
  EXPECT_EQ((*m)->handshake, h);
  EXPECT_FALSE(parser.awaiting_handshake());
  EXPECT_EQ(parser.offset(), 68u);
  EXPECT_EQ(parser.buffered(), 2u);
}

TEST(HandshakeModeTest, GarbageRejectedAfterFirstByte) {
  MessageParser parser(TestLimits(), MessageParser::StreamStart::kHandshake);
  parser.Feed("G");
  auto m = parser.Next();
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("pstrlen is 71"));
  EXPECT_THAT(m.status().message(), HasSubstr("stream offset 0"));
}

TEST(HandshakeModeTest, WrongProtocolStringRejectedBeforeWholeHandshake) {
  MessageParser parser(TestLimits(), MessageParser::StreamStart::kHandshake);
  parser.Feed(std::string(1, '\x13') + "BitTorrent");
  auto m = parser.Next();
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->has_value());
  parser.Feed("X");
  m = parser.Next();
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("protocol string starts \"BitTorrentX\""));
}

TEST(HandshakeModeTest, GarbageErrorDoesNotDependOnTheSplit) {
  std::string stream = EncodeHandshake(TestHandshake());
  stream[8] = '\0';
  stream += EveryMessage();
  Result whole = ParseWhole(stream, MessageParser::StreamStart::kHandshake);
  ASSERT_FALSE(whole.status.ok());
  EXPECT_THAT(whole.status.message(), HasSubstr("starts \"BitTorr\\x00\""));
  Result bytewise = ParseInChunks(
      stream, [] { return 1; }, MessageParser::StreamStart::kHandshake);
  EXPECT_EQ(bytewise.status, whole.status);
}

TEST(HandshakeModeTest, MessagesModeDoesNotExpectHandshake) {
  // A handshake fed to a parser in message mode reads as a length prefix far over the cap.
  MessageParser parser(TestLimits());
  EXPECT_FALSE(parser.awaiting_handshake());
  parser.Feed(EncodeHandshake(TestHandshake()));
  auto m = parser.Next();
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("length prefix"));
}

// --------------------------------------------------------------------------------------------
// Limits: each a distinct error

TEST(LimitTest, LengthPrefixOverCapFailsBeforeBody) {
  MessageParser parser(TestLimits());
  parser.Feed(std::string("\xff\xff", 2));
  auto m = parser.Next();
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->has_value());
  parser.Feed(std::string("\xff\xff", 2));
  m = parser.Next();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(),
              HasSubstr("length prefix 4294967295 exceeds max_message_length 1048589"));
}

TEST(LimitTest, LengthPrefixAtCapIsAccepted) {
  MessageParser::Limits limits = TestLimits();
  limits.max_message_length = 100;
  std::string ok("\0\0\0\x64\x0a", 5);  // unknown id, 99 payload bytes
  ok += std::string(99, 'u');
  Result r = ParseWhole(ok, MessageParser::StreamStart::kMessages, limits);
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(ErrorOf(std::string("\0\0\0\x65", 4), limits).message(),
              HasSubstr("length prefix 101 exceeds max_message_length 100"));
}

TEST(LimitTest, CapIsRaisedToFitThisTorrentsBitfield) {
  const uint32_t pieces = 10'000'000;  // 1.25 MB bitfield, over the default cap
  MessageParser parser(TestLimits(pieces));
  EXPECT_EQ(parser.limits().max_message_length, 1 + (pieces + 7) / 8);
  Bitfield bf(pieces);
  bf.Set(pieces - 1);
  std::string s;
  AppendBitfield(&s, bf);
  parser.Feed(s);
  auto m = parser.Next();
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ((*m)->bitfield, bf);
}

TEST(LimitTest, RequestLengthZeroOrOverMax) {
  for (auto append : {&AppendRequest, &AppendCancel, &AppendReject}) {
    std::string zero, over, max;
    append(&zero, 1, 0, 0);
    append(&over, 1, 0, kDefaultMaxRequestLength + 1);
    append(&max, 1, 0, kDefaultMaxRequestLength);
    EXPECT_THAT(ErrorOf(zero).message(), HasSubstr("message length is 0"));
    EXPECT_THAT(ErrorOf(over).message(),
                HasSubstr("message length 131073 exceeds max_request_length 131072"));
    EXPECT_TRUE(ParseWhole(max).status.ok());
  }
  std::string s;
  AppendCancel(&s, 1, 0, 0);
  EXPECT_THAT(ErrorOf(s).message(), HasSubstr("cancel message length is 0"));
  s.clear();
  AppendReject(&s, 1, 0, 0);
  EXPECT_THAT(ErrorOf(s).message(), HasSubstr("reject message length is 0"));
}

TEST(LimitTest, PieceBlockOverMaxRequestLength) {
  MessageParser::Limits limits = TestLimits();
  limits.max_request_length = 16;
  std::string s;
  AppendPiece(&s, 1, 0, std::string(17, 'x'));
  // Refused on the header alone.
  absl::Status status = ErrorOf(s.substr(0, 5), limits);
  EXPECT_THAT(status.message(), HasSubstr("piece message block is 17 bytes"));
  EXPECT_THAT(status.message(), HasSubstr("max_request_length 16"));
}

TEST(LimitTest, BitfieldWrongLengthFailsOnHeader) {
  std::string s;
  AppendBitfield(&s, Bitfield(kPieces + 8));  // one byte too many
  absl::Status status = ErrorOf(s.substr(0, 5));
  EXPECT_THAT(status.message(),
              HasSubstr("bitfield message payload is 14 bytes; 100 pieces need exactly 13"));
  s.clear();
  AppendBitfield(&s, Bitfield(kPieces - 8));
  EXPECT_THAT(ErrorOf(s).message(), HasSubstr("payload is 12 bytes"));
}

TEST(LimitTest, BitfieldSpareBits) {
  std::string s("\0\0\0\x0e\x05", 5);  // 13 bytes for 100 pieces
  s += std::string(12, '\0');
  s.push_back('\x01');  // piece 103: a spare bit
  absl::Status status = ErrorOf(s);
  EXPECT_THAT(status.message(), HasSubstr("bitfield message: "));
  EXPECT_THAT(status.message(), HasSubstr("spare bits"));
}

TEST(LimitTest, BitfieldWhenTorrentHasNoPiecesKnown) {
  std::string s;
  AppendBitfield(&s, Bitfield(8));
  EXPECT_THAT(ErrorOf(s, TestLimits(0)).message(), HasSubstr("0 pieces need exactly 0"));
}

TEST(LimitTest, PieceIndexOutOfRangeInEveryIndexedMessage) {
  const std::vector<std::pair<std::string, std::function<void(std::string*)>>> cases = {
      {"have", [](std::string* s) { AppendHave(s, kPieces); }},
      {"request", [](std::string* s) { AppendRequest(s, kPieces, 0, 16384); }},
      {"piece", [](std::string* s) { AppendPiece(s, kPieces, 0, "x"); }},
      {"cancel", [](std::string* s) { AppendCancel(s, kPieces, 0, 16384); }},
      {"reject", [](std::string* s) { AppendReject(s, kPieces, 0, 16384); }},
      {"suggest", [](std::string* s) { AppendSuggest(s, kPieces); }},
      {"allowed fast", [](std::string* s) { AppendAllowedFast(s, UINT32_MAX); }},
  };
  for (const auto& [name, append] : cases) {
    std::string s;
    AppendHave(&s, kPieces - 1);  // the last valid index is fine
    append(&s);
    absl::Status status = ErrorOf(s);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr(name + " message piece index"));
    EXPECT_THAT(status.message(), HasSubstr("is out of range (num_pieces 100)"));
    EXPECT_THAT(status.message(), HasSubstr("stream offset 9"));
  }
}

TEST(LimitTest, FixedSizeMessagesOfWrongSize) {
  struct Case {
    uint8_t id;
    uint32_t payload;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {0, 1, "choke message payload is 1 bytes; expected 0"},
      {1, 4, "unchoke message payload is 4 bytes; expected 0"},
      {2, 1, "interested message payload is 1 bytes; expected 0"},
      {3, 1, "not interested message payload is 1 bytes; expected 0"},
      {4, 3, "have message payload is 3 bytes; expected 4"},
      {4, 5, "have message payload is 5 bytes; expected 4"},
      {6, 11, "request message payload is 11 bytes; expected 12"},
      {7, 7, "piece message payload is 7 bytes; expected at least 8"},
      {8, 13, "cancel message payload is 13 bytes; expected 12"},
      {9, 1, "port message payload is 1 bytes; expected 2"},
      {9, 3, "port message payload is 3 bytes; expected 2"},
      {13, 0, "suggest message payload is 0 bytes; expected 4"},
      {14, 1, "have all message payload is 1 bytes; expected 0"},
      {15, 2, "have none message payload is 2 bytes; expected 0"},
      {16, 12000, "reject message payload is 12000 bytes; expected 12"},
      {17, 8, "allowed fast message payload is 8 bytes; expected 4"},
      {20, 0, "extended message payload is 0 bytes; expected at least 1"},
  };
  for (const Case& c : cases) {
    const uint32_t len = c.payload + 1;
    std::string s = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                     static_cast<char>(len >> 8), static_cast<char>(len), static_cast<char>(c.id)};
    // Fails on the 5 header bytes, before the payload arrives.
    EXPECT_THAT(ErrorOf(s).message(), HasSubstr(c.expect)) << int{c.id};
  }
}

TEST(LimitTest, ErrorsAreDistinct) {
  std::vector<std::string> streams;
  std::string s;
  s = std::string("\x7f\0\0\0", 4);  // length prefix over cap
  streams.push_back(s);
  s.clear();
  AppendRequest(&s, 1, 0, 0);
  streams.push_back(s);
  s.clear();
  AppendRequest(&s, 1, 0, 1 << 20);
  streams.push_back(s);
  s.clear();
  AppendBitfield(&s, Bitfield(1));
  streams.push_back(s);
  s = std::string("\0\0\0\x0e\x05", 5) + std::string(12, '\0') + "\x0f";  // spare bits
  streams.push_back(s);
  s.clear();
  AppendHave(&s, 100);
  streams.push_back(s);
  s = std::string("\0\0\0\x04\x04\0\0", 7);  // have with 3 bytes
  streams.push_back(s);
  s = std::string("\0\0\0\x02\x09\x01", 6);  // port with 1 byte
  streams.push_back(s);
  std::set<std::string> messages;
  for (const std::string& stream : streams) {
    absl::Status status = ErrorOf(stream);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    messages.insert(std::string(status.message()));
  }
  EXPECT_EQ(messages.size(), streams.size());
}

TEST(LimitTest, ErrorNamesStreamOffset) {
  std::string s;
  AppendKeepAlive(&s);
  AppendHave(&s, 1);
  AppendHave(&s, 500);
  EXPECT_THAT(ErrorOf(s).message(), HasSubstr("(message at stream offset 13)"));
}

TEST(LimitTest, FailureIsSticky) {
  MessageParser parser(TestLimits());
  std::string bad;
  AppendHave(&bad, 1000);
  parser.Feed(bad);
  auto first = parser.Next();
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(parser.failed());
  std::string good;
  AppendHave(&good, 1);
  parser.Feed(good);
  auto again = parser.Next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status(), first.status());
  EXPECT_EQ(parser.buffered(), 0u);
}

TEST(LimitTest, ErrorsIdenticalWhateverTheSplit) {
  std::string s = EveryMessage();
  AppendRequest(&s, 1, 0, 0);
  Result whole = ParseWhole(s);
  ASSERT_FALSE(whole.status.ok());
  std::mt19937 rng(99);
  std::uniform_int_distribution<size_t> dist(1, 300);
  for (int round = 0; round < 20; ++round) {
    Result chunked = ParseInChunks(s, [&] { return dist(rng); });
    EXPECT_EQ(chunked.status, whole.status);
    EXPECT_EQ(chunked.described, whole.described);
  }
}

TEST(MessageTypeNameTest, Names) {
  EXPECT_EQ(MessageTypeName(MessageType::kAllowedFast), "allowed fast");
  EXPECT_EQ(MessageTypeName(MessageType::kKeepAlive), "keep-alive");
  EXPECT_EQ(MessageTypeName(static_cast<MessageType>(99)), "invalid");
}

}  // namespace
}  // namespace swarm::bt
