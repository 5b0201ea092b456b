#include "bt/tracker/http_url.h"

#include <string>

#include "gtest/gtest.h"

namespace swarm::bt::tracker {
namespace {

using std::string_literals::operator""s;

AnnounceParams Params() {
  AnnounceParams p;
  // Binary bytes that need encoding: NUL, '%', '&', '=', space, '+', 0xff, and unreserved ones.
  p.info_hash =
      "\x00\x12%&= +\xff"
      "a09-._~/?#\x80\x7f"s;
  p.peer_id = "-SW0001-abcdefghijkl";
  p.port = 6881;
  p.uploaded = 1;
  p.downloaded = 2;
  p.left = 12345678901234ull;
  return p;
}

TEST(PercentEncodeTest, EncodesEverythingButUnreserved) {
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode("\x00\xff /?#&=+%"s), "%00%FF%20%2F%3F%23%26%3D%2B%25");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(PercentEncode(all).size(), 66 + 3 * 190u);
}

TEST(BuildAnnounceUrlTest, AllParameters) {
  AnnounceParams p = Params();
  p.event = AnnounceEvent::kStarted;
  p.numwant = 50;
  p.key = 0xdeadbeef;
  p.tracker_id = "id 1";
  auto url = BuildAnnounceUrl("http://t.example:6969/announce", p);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(*url,
            "http://t.example:6969/announce?info_hash=%00%12%25%26%3D%20%2B%FFa09-._~%2F%3F%23"
            "%80%7F&peer_id=-SW0001-abcdefghijkl&port=6881&uploaded=1&downloaded=2"
            "&left=12345678901234&compact=1&key=DEADBEEF&event=started&numwant=50"
            "&trackerid=id%201");
}

TEST(BuildAnnounceUrlTest, OmitsOptionalParametersAndKeepsQuery) {
  auto url = BuildAnnounceUrl("https://t.example/announce.php?passkey=x#frag", Params());
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->rfind("https://t.example/announce.php?passkey=x&info_hash=", 0), 0u) << *url;
  EXPECT_EQ(url->find("event="), std::string::npos);
  EXPECT_EQ(url->find("numwant="), std::string::npos);
  EXPECT_EQ(url->find("trackerid="), std::string::npos);
  EXPECT_EQ(url->find('#'), std::string::npos);
  EXPECT_NE(url->find("&key=00000000"), std::string::npos);
}

TEST(BuildAnnounceUrlTest, Events) {
  AnnounceParams p = Params();
  p.event = AnnounceEvent::kCompleted;
  EXPECT_NE(BuildAnnounceUrl("http://t/a", p)->find("&event=completed"), std::string::npos);
  p.event = AnnounceEvent::kStopped;
  EXPECT_NE(BuildAnnounceUrl("http://t/a", p)->find("&event=stopped"), std::string::npos);
}

TEST(BuildAnnounceUrlTest, IpParameter) {
  AnnounceParams p = Params();
  EXPECT_EQ(BuildAnnounceUrl("http://t/a", p)->find("&ip="), std::string::npos);
  p.ip = "10.0.0.7";
  std::string url = *BuildAnnounceUrl("http://t/a", p);
  const std::string v4 = "&ip=10.0.0.7";
  EXPECT_EQ(url.substr(url.size() - v4.size()), v4) << url;
  p.ip = "2001:db8::1";  // colons are percent-encoded like any reserved byte
  url = *BuildAnnounceUrl("http://t/a", p);
  const std::string v6 = "&ip=2001%3Adb8%3A%3A1";
  EXPECT_EQ(url.substr(url.size() - v6.size()), v6) << url;
  p.ip = "host.example";  // not an address: refused, never sent
  EXPECT_EQ(BuildAnnounceUrl("http://t/a", p).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BuildAnnounceUrlTest, RejectsBadInput) {
  AnnounceParams p = Params();
  EXPECT_FALSE(BuildAnnounceUrl("udp://t.example:1/announce", p).ok());
  EXPECT_FALSE(BuildAnnounceUrl("not a url", p).ok());
  p.info_hash = "short";
  EXPECT_EQ(BuildAnnounceUrl("http://t/a", p).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ScrapeUrlTest, Convention) {
  EXPECT_EQ(*ScrapeUrlFor("http://t.example/announce"), "http://t.example/scrape");
  EXPECT_EQ(*ScrapeUrlFor("http://t.example/x/announce.php?k=1"),
            "http://t.example/x/scrape.php?k=1");
  EXPECT_EQ(*ScrapeUrlFor("http://t.example/announce?a=/b"), "http://t.example/scrape?a=/b");
  EXPECT_EQ(ScrapeUrlFor("http://t.example/a").status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ScrapeUrlFor("http://t.example/announce/x").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ScrapeUrlFor("http://t.example").status().code(), absl::StatusCode::kUnimplemented);
}

TEST(ScrapeUrlTest, Hashes) {
  std::string a(20, 'a'), b = "\x01" + std::string(19, 'b');
  auto url = BuildScrapeUrl("http://t.example/announce", {a, b});
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(*url,
            "http://t.example/scrape?info_hash=" + a + "&info_hash=%01" + std::string(19, 'b'));
  EXPECT_FALSE(BuildScrapeUrl("http://t.example/announce", {}).ok());
  EXPECT_FALSE(BuildScrapeUrl("http://t.example/announce", {"short"}).ok());
  EXPECT_FALSE(
      BuildScrapeUrl("http://t.example/announce", std::vector<std::string>(kMaxScrapeHashes + 1, a))
          .ok());
}

}  // namespace
}  // namespace swarm::bt::tracker
