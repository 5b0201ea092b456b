#include "bt/tracker/http_response.h"

#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace swarm::bt::tracker {
namespace {

using std::string_literals::operator""s;

Peer P(std::string_view ip, uint32_t port, std::string peer_id = "") {
  return Peer{*Endpoint::Make(ip, port), std::move(peer_id)};
}

// A bencoded string.
std::string S(const std::string& s) { return std::to_string(s.size()) + ":" + s; }

TEST(ParseAnnounceResponseTest, CompactAsOpentrackerSendsIt) {
  // Captured from opentracker (Debian's) on loopback.
  std::string body =
      "d8:completei0e10:downloadedi0e10:incompletei2e8:intervali1664e12:min intervali832e"
      "5:peers12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x01\x1a\xe2"
      "e"s;
  auto reply = ParseAnnounceResponse(body);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->interval_s, 1664u);
  EXPECT_EQ(reply->min_interval_s, 832u);
  EXPECT_EQ(reply->seeders, 0);
  EXPECT_EQ(reply->leechers, 2);
  ASSERT_EQ(reply->peers.size(), 2u);
  EXPECT_EQ(reply->peers[0], P("127.0.0.1", 6881));
  EXPECT_EQ(reply->peers[1], P("127.0.0.1", 6882));
  EXPECT_TRUE(reply->warnings.empty());
  EXPECT_TRUE(reply->tracker_id.empty());
}

TEST(ParseAnnounceResponseTest, DictionaryPeers) {
  std::string id(20, 'P');
  std::string body =
      "d8:intervali900e5:peersl"
      "d2:ip8:10.0.0.17:peer id20:" +
      id +
      "4:porti6881ee"
      "d4:porti51413e2:ip11:2001:DB8::5e"  // unsorted keys, IPv6, no peer id
      "ee";
  auto reply = ParseAnnounceResponse(body);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->interval_s, 900u);
  EXPECT_EQ(reply->seeders, -1);
  EXPECT_EQ(reply->leechers, -1);
  ASSERT_EQ(reply->peers.size(), 2u);
  EXPECT_EQ(reply->peers[0], P("10.0.0.1", 6881, id));
  EXPECT_EQ(reply->peers[1], P("2001:db8::5", 51413));
}

TEST(ParseAnnounceResponseTest, DictionaryPeersSkipsBadEntries) {
  std::string body =
      "d8:intervali900e5:peersl"
      "d2:ip8:10.0.0.14:porti1ee"
      "d2:ip13:t.example.org4:porti1ee"          // host name
      "d2:ip8:10.0.0.24:porti0ee"                // port 0
      "d2:ip8:10.0.0.34:porti70000ee"            // port too big
      "d2:ip8:10.0.0.44:port1:1e"                // port not an integer
      "d4:porti1ee"                              // no ip
      "i5e"                                      // not a dictionary
      "d2:ip8:10.0.0.54:porti2e7:peer id3:abce"  // short peer id: dropped id
      "ee";
  auto reply = ParseAnnounceResponse(body);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ASSERT_EQ(reply->peers.size(), 2u);
  EXPECT_EQ(reply->peers[0], P("10.0.0.1", 1));
  EXPECT_EQ(reply->peers[1], P("10.0.0.5", 2));
  ASSERT_EQ(reply->warnings.size(), 1u);
  EXPECT_NE(reply->warnings[0].find("skipped 6"), std::string::npos) << reply->warnings[0];
}

TEST(ParseAnnounceResponseTest, Peers6) {
  std::string v6 = "\xfe\x80"s + std::string(13, '\0') + "\x01\x00\x50"s;
  std::string body = "d8:intervali60e5:peers0:6:peers6" + S(v6) + "e";
  auto reply = ParseAnnounceResponse(body);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ASSERT_EQ(reply->peers.size(), 1u);
  EXPECT_EQ(reply->peers[0], P("fe80::1", 80));
}

TEST(ParseAnnounceResponseTest, Peers6Only) {
  std::string v6 = std::string(15, '\0') + "\x01\x1a\xe1"s;
  auto reply = ParseAnnounceResponse("d8:intervali60e6:peers6" + S(v6) + "e");
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  ASSERT_EQ(reply->peers.size(), 1u);
  EXPECT_EQ(reply->peers[0].endpoint.ip().ToString(), "::1");
}

TEST(ParseAnnounceResponseTest, FailureReason) {
  auto reply = ParseAnnounceResponse(
      "d14:failure reason63:Requested download is not authorized for use with this tracker.e");
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(reply.status().message(),
            "tracker failure: Requested download is not authorized for use with this tracker.");
}

TEST(ParseAnnounceResponseTest, FailureReasonWinsOverPeersAndIsSanitized) {
  auto reply = ParseAnnounceResponse("d14:failure reason6:bad\x01\xff!5:peers3:xyze"s);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(reply.status().message(), "tracker failure: bad?" "?!");
  EXPECT_EQ(ParseAnnounceResponse("d14:failure reasoni1ee").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseAnnounceResponseTest, WarningTrackerIdAndDefaults) {
  auto reply = ParseAnnounceResponse(
      "d15:warning message11:slow down!!10:tracker id4:t\x00\x01x5:peers0:e"s);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->interval_s, kDefaultIntervalS);
  EXPECT_EQ(reply->min_interval_s, 0u);
  EXPECT_EQ(reply->warnings, std::vector<std::string>{"slow down!!"});
  EXPECT_EQ(reply->tracker_id, "t\x00\x01x"s);
  EXPECT_TRUE(reply->peers.empty());
}

TEST(ParseAnnounceResponseTest, NoPeersKeyIsNoPeers) {
  auto reply = ParseAnnounceResponse("d8:intervali5ee");
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_TRUE(reply->peers.empty());
}

TEST(ParseAnnounceResponseTest, WrongTypesAreClearErrors) {
  struct Case {
    std::string body;
    std::string mention;
  } cases[] = {
      {"d8:interval3:abce", "\"interval\" at byte 11 is not an integer"},
      {"d8:intervali-1ee", "outside"},
      {"d8:intervali99999999999ee", "outside"},
      {"d12:min intervalle5:peers0:e", "min interval"},
      {"d8:completei-3ee", "complete"},
      {"d5:peersi1ee", "\"peers\" at byte 8 is not a string or a list"},
      {"d6:peers6lee", "peers6"},
      {"d5:peers5:abcdee", "not a multiple of 6"},
      {"d6:peers65:abcdee", "not a multiple of 18"},
      {"d15:warning messagei1ee", "warning message"},
      {"d10:tracker idlee", "tracker id"},
  };
  for (const Case& c : cases) {
    auto reply = ParseAnnounceResponse(c.body);
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_NE(reply.status().message().find(c.mention), std::string::npos)
        << c.body << " -> " << reply.status();
  }
}

TEST(ParseAnnounceResponseTest, GarbageAndTruncatedBodies) {
  for (std::string body :
       {""s, "<html><body>Not Found</body></html>"s, "i42e"s, "le"s, "4:spam"s, "d8:intervali5e"s,
        "d8:intervali5ee trailing"s, "d5:peers999:abce"s, "\xff\xfe"s}) {
    auto reply = ParseAnnounceResponse(body);
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument) << body;
  }
  // Every proper prefix of a valid reply is an error, never a crash.
  std::string valid =
      "d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1"
      "6:peers618:"s +
      std::string(18, 'x') + "15:warning message2:hie";
  ASSERT_TRUE(ParseAnnounceResponse(valid).ok())
      << ParseAnnounceResponse(valid).status().ToString();
  for (size_t n = 0; n < valid.size(); ++n) {
    EXPECT_FALSE(ParseAnnounceResponse(valid.substr(0, n)).ok()) << n;
  }
}

TEST(ParseAnnounceResponseTest, NotBencodeMentionsOffset) {
  auto reply = ParseAnnounceResponse("d8:intervalx");
  EXPECT_NE(reply.status().message().find("not valid bencode"), std::string::npos)
      << reply.status();
}

TEST(ParseAnnounceResponseTest, Limits) {
  HttpResponseLimits limits;
  limits.max_body_bytes = 10;
  EXPECT_NE(ParseAnnounceResponse("d8:intervali5ee", limits).status().message().find("limit"),
            std::string::npos);

  limits = HttpResponseLimits();
  limits.max_depth = 3;
  EXPECT_FALSE(ParseAnnounceResponse("d1:xllllleeeeee", limits).ok());

  limits = HttpResponseLimits();
  limits.max_peers = 2;
  std::string peers;
  for (int i = 1; i <= 3; ++i) peers += "\x0a\x00\x00"s + static_cast<char>(i) + "\x00\x01"s;
  auto reply = ParseAnnounceResponse("d5:peers" + S(peers) + "e", limits);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ(reply->peers.size(), 2u);
  ASSERT_EQ(reply->warnings.size(), 1u);
  EXPECT_NE(reply->warnings[0].find("skipped 1"), std::string::npos);
}

TEST(ParseAnnounceResponseTest, RandomBytesNeverCrash) {
  std::mt19937 rng(99);
  const std::string alphabet = "dleie0123456789:-xpeers";
  for (int i = 0; i < 20000; ++i) {
    std::string body(rng() % 48, '\0');
    for (char& c : body) c = rng() % 3 ? alphabet[rng() % alphabet.size()] : char(rng());
    (void)ParseAnnounceResponse(body);
    (void)ParseScrapeResponse(body);
  }
}

TEST(ParseScrapeResponseTest, Files) {
  std::string a(20, 'a'), b(20, '\xbb');
  std::string body = "d5:filesd" + S(a) + "d8:completei5e10:downloadedi50e10:incompletei10ee" +
                     S(b) + "d10:incompletei1ee" + "3:odd" + "de" + "ee";
  auto counts = ParseScrapeResponse(body);
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->size(), 2u);
  EXPECT_EQ((*counts)[0], (ScrapeCounts{a, 5, 50, 10}));
  EXPECT_EQ((*counts)[1], (ScrapeCounts{b, 0, 0, 1}));
}

TEST(ParseScrapeResponseTest, Errors) {
  EXPECT_EQ(ParseScrapeResponse("d14:failure reason4:nopee").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ParseScrapeResponse("de").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseScrapeResponse("d5:filesi1ee").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseScrapeResponse("garbage").status().code(), absl::StatusCode::kInvalidArgument);
  std::string a(20, 'a');
  EXPECT_FALSE(ParseScrapeResponse("d5:filesd" + S(a) + "d8:completei-1eeee").ok());
}

}  // namespace
}  // namespace swarm::bt::tracker
