#include "bt/ut_pex.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Names(const std::vector<Endpoint>& peers) {
  std::vector<std::string> out;
  for (const Endpoint& e : peers) out.push_back(e.ToString());
  return out;
}

TEST(UtPexTest, ReadsWhatLibtorrentSends) {
  // libtorrent's layout: added, added.f, added6, added6.f, dropped, dropped6.
  const std::string v4 =
      std::string("\x0a\x00\x00\x01\x1a\xe1", 6) + std::string("\x0a\x00\x00\x02\x00\x50", 6);
  std::string v6(16, '\0');
  v6[15] = 1;
  v6 += std::string("\x1a\xe1", 2);
  const std::string dropped = std::string("\x0a\x00\x00\x03\x00\x51", 6);
  const std::string payload =
      absl::StrCat("d5:added12:", v4, "7:added.f2:", std::string(2, '\x10'), "6:added618:", v6,
                   "8:added6.f1:", std::string(1, '\0'), "7:dropped6:", dropped, "8:dropped60:e");
  absl::StatusOr<PexMessage> m = ParsePexMessage(payload);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(Names(m->added),
              ::testing::ElementsAre("10.0.0.1:6881", "10.0.0.2:80", "[::1]:6881"));
  EXPECT_THAT(Names(m->dropped), ::testing::ElementsAre("10.0.0.3:81"));
}

TEST(UtPexTest, WrittenAndReadBack) {
  const std::vector<Endpoint> added = {*Endpoint::Parse("127.0.0.2:1"), *Endpoint::Parse("[::1]:2"),
                                       *Endpoint::Parse("192.168.1.1:65535")};
  const std::vector<Endpoint> dropped = {*Endpoint::Parse("[2001:db8::1]:3")};
  absl::StatusOr<PexMessage> m = ParsePexMessage(EncodePexMessage(added, dropped));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(Names(m->added),
              ::testing::ElementsAre("127.0.0.2:1", "192.168.1.1:65535", "[::1]:2"));
  EXPECT_THAT(Names(m->dropped), ::testing::ElementsAre("[2001:db8::1]:3"));
}

TEST(UtPexTest, AtMost50OfEachFamilyAndNoPortZero) {
  std::string v4 = std::string("\x0a\x00\x00\x63\x00\x00", 6);  // port 0: left out
  for (int i = 0; i < 60; ++i) {
    v4 += std::string("\x0a\x00\x00", 3) + static_cast<char>(i) + std::string("\x00\x01", 2);
  }
  absl::StatusOr<PexMessage> m = ParsePexMessage(absl::StrCat("d5:added", v4.size(), ":", v4, "e"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->added.size(), kMaxPexPeers);
  EXPECT_EQ(m->added[0].ToString(), "10.0.0.0:1");
  std::vector<Endpoint> many;
  for (int i = 1; i <= 60; ++i) many.push_back(*Endpoint::Make("10.0.0.1", i));
  m = ParsePexMessage(EncodePexMessage(many, {}));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->added.size(), kMaxPexPeers);
}

TEST(UtPexTest, RefusesWhatIsNotAMessage) {
  auto error = [](std::string_view p) {
    absl::StatusOr<PexMessage> m = ParsePexMessage(p);
    return m.ok() ? std::string("OK") : std::string(m.status().message());
  };
  EXPECT_THAT(error("le"), HasSubstr("not a dictionary"));
  EXPECT_THAT(error("d5:addedi1ee"), HasSubstr("is not a string"));
  EXPECT_THAT(error("d5:added5:12345e"), HasSubstr("not entries of 6"));
  EXPECT_THAT(error("d6:added617:12345678901234567e"), HasSubstr("not entries of 18"));
  EXPECT_THAT(error(absl::StrCat("d5:added", 9000, ":", std::string(9000, 'x'), "e")),
              HasSubstr("ut_pex"));
  EXPECT_EQ(error("de"), "OK");
}

}  // namespace
}  // namespace swarm::bt
