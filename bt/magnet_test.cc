#include "bt/magnet.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "bt/metainfo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The info-hash 0x00 0x01 ... 0x13, in hex and in base32.
constexpr char kHex[] = "000102030405060708090a0b0c0d0e0f10111213";
constexpr char kBase32[] = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT";

Sha1Digest Expected() {
  Sha1Digest d{};
  for (int i = 0; i < 20; ++i) d[i] = static_cast<uint8_t>(i);
  return d;
}

std::string Message(const absl::StatusOr<MagnetLink>& link) {
  return std::string(link.status().message());
}

TEST(MagnetTest, HexAndBase32InfoHashesInEitherCase) {
  for (const std::string& hash : std::vector<std::string>{std::string(kHex), absl::AsciiStrToUpper(kHex), std::string(kBase32),
                           absl::AsciiStrToLower(kBase32)}) {
    absl::StatusOr<MagnetLink> link = ParseMagnet("magnet:?xt=urn:btih:" + hash);
    ASSERT_TRUE(link.ok()) << hash << ": " << link.status();
    EXPECT_EQ(link->info_hash, Expected()) << hash;
  }
  EXPECT_TRUE(ParseMagnet(absl::StrCat("MAGNET:?XT=URN:BTIH:", kHex)).ok());
}

TEST(MagnetTest, NameTrackersAndPeers) {
  absl::StatusOr<MagnetLink> link = ParseMagnet(absl::StrCat(
      "magnet:?xt=urn:btih:", kHex, "&dn=Big+Buck%20Bunny",
      "&tr=http%3A%2F%2Ft1.example%2Fannounce", "&tr.1=udp://t2.example:6969",
      "&tr=http://t1.example/announce",  // again: once
      "&tr=wss://t3.example",            // not a tracker we speak
      "&x.pe=10.0.0.1:6881&x.pe=[::1]:51413&x.pe=peer.example:1&x.pe=10.0.0.1:6881",
      "&xl=123&ws=http://seed.example/&bare"));
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->name, "Big Buck Bunny");
  EXPECT_THAT(link->trackers,
              ElementsAre("http://t1.example/announce", "udp://t2.example:6969"));
  ASSERT_EQ(link->peers.size(), 2u);
  EXPECT_EQ(link->peers[0].ToString(), "10.0.0.1:6881");
  EXPECT_EQ(link->peers[1].ToString(), "[::1]:51413");
}

TEST(MagnetTest, WrittenBackAndParsedAgain) {
  MagnetLink link;
  link.info_hash = Expected();
  link.name = "a name & more/\x01";
  link.trackers = {"http://t.example/announce?passkey=a&b", "udp://u.example:80"};
  link.peers = {*Endpoint::Parse("127.0.0.1:6881"), *Endpoint::Parse("[::1]:1")};
  const std::string uri = ToMagnet(link);
  EXPECT_THAT(uri, HasSubstr(absl::StrCat("magnet:?xt=urn:btih:", kHex, "&dn=a%20name%20%26")));
  absl::StatusOr<MagnetLink> back = ParseMagnet(uri);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->info_hash, link.info_hash);
  EXPECT_EQ(back->name, link.name);
  EXPECT_EQ(back->trackers, link.trackers);
  EXPECT_EQ(back->peers, link.peers);
}

TEST(MagnetTest, RefusesWhatIsNotAUsableLink) {
  EXPECT_THAT(Message(ParseMagnet("http://example.com/x.torrent")), HasSubstr("not a magnet"));
  EXPECT_THAT(Message(ParseMagnet("magnet:")), HasSubstr("without parameters"));
  EXPECT_THAT(Message(ParseMagnet("magnet:?dn=x")), HasSubstr("without an info-hash"));
  EXPECT_THAT(Message(ParseMagnet("magnet:?xt=urn:btmh:1220abcd")), HasSubstr("v2"));
  EXPECT_THAT(Message(ParseMagnet("magnet:?xt=urn:btih:abc")), HasSubstr("is not an info-hash"));
  EXPECT_THAT(Message(ParseMagnet(absl::StrCat("magnet:?xt=urn:btih:", std::string(39, 'a'),
                                               "g"))),
              HasSubstr("is not an info-hash"));
  EXPECT_THAT(Message(ParseMagnet(absl::StrCat("magnet:?xt=urn:btih:", kHex, "&xt=urn:btih:",
                                               std::string(40, 'f')))),
              HasSubstr("two different info-hashes"));
  EXPECT_THAT(Message(ParseMagnet(absl::StrCat("magnet:?xt=urn:btih:", kHex, "&dn=%4"))),
              HasSubstr("bad percent escape"));
  EXPECT_THAT(Message(ParseMagnet(absl::StrCat("magnet:?xt=urn:btih:", kHex, "&dn=%zz"))),
              HasSubstr("bad percent escape"));
}

TEST(MagnetTest, Limits) {
  std::string many = absl::StrCat("magnet:?xt=urn:btih:", kHex);
  for (size_t i = 0; i <= kMaxMagnetTrackers; ++i) absl::StrAppend(&many, "&tr=http://t", i, "/");
  EXPECT_THAT(Message(ParseMagnet(many)), HasSubstr("more than 64 trackers"));
  std::string peers = absl::StrCat("magnet:?xt=urn:btih:", kHex);
  for (size_t i = 0; i <= kMaxMagnetPeers; ++i) absl::StrAppend(&peers, "&x.pe=10.0.0.1:", i + 1);
  EXPECT_THAT(Message(ParseMagnet(peers)), HasSubstr("more than 256 peers"));
  const std::string huge =
      absl::StrCat("magnet:?xt=urn:btih:", kHex, "&dn=", std::string(kMaxMagnetBytes, 'n'));
  EXPECT_THAT(Message(ParseMagnet(huge)), HasSubstr("longer than"));
  absl::StatusOr<MagnetLink> long_name = ParseMagnet(
      absl::StrCat("magnet:?xt=urn:btih:", kHex, "&dn=", std::string(5000, 'n')));
  ASSERT_TRUE(long_name.ok());
  EXPECT_EQ(long_name->name.size(), kMaxMagnetNameBytes);
}

TEST(MagnetTest, TorrentFromTheFetchedDictionary) {
  MagnetLink link;
  link.trackers = {"http://a/announce", "udp://b:1"};
  const std::string info =
      "d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:" + std::string(20, 'h') + "e";
  link.info_hash = Sha1(info);
  absl::StatusOr<Metainfo> m = ParseMetainfo(TorrentFromMagnet(link, info));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->info_hash, link.info_hash);
  EXPECT_EQ(m->trackers,
            (std::vector<std::vector<std::string>>{{"http://a/announce"}, {"udp://b:1"}}));
  link.trackers.clear();
  m = ParseMetainfo(TorrentFromMagnet(link, info));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->trackers.empty());
}

TEST(MagnetTest, IsMagnet) {
  EXPECT_TRUE(IsMagnet("magnet:?xt=..."));
  EXPECT_TRUE(IsMagnet("Magnet:?"));
  EXPECT_FALSE(IsMagnet("file.torrent"));
  EXPECT_FALSE(IsMagnet("magnet"));
}

}  // namespace
}  // namespace swarm::bt
