#include "bt/tracker/tracker_url.h"

#include <string>

#include "gtest/gtest.h"

namespace swarm::bt::tracker {
namespace {

TEST(TrackerUrlTest, Http) {
  auto url = ParseTrackerUrl("http://tracker.example.org/announce?passkey=abc");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, TrackerScheme::kHttp);
  EXPECT_EQ(url->host, "tracker.example.org");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->path, "/announce?passkey=abc");
}

TEST(TrackerUrlTest, HttpsDefaultsAndExplicitPort) {
  auto url = ParseTrackerUrl("HTTPS://t.example:8443/a");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, TrackerScheme::kHttps);
  EXPECT_EQ(url->port, 8443);
  url = ParseTrackerUrl("https://t.example");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->path, "");
}

TEST(TrackerUrlTest, Udp) {
  auto url = ParseTrackerUrl("udp://127.0.0.1:6969/announce#frag");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, TrackerScheme::kUdp);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 6969);
  EXPECT_EQ(url->path, "/announce");
  url = ParseTrackerUrl("udp://t.example:1");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->path, "");
}

TEST(TrackerUrlTest, Ipv6Host) {
  auto url = ParseTrackerUrl("udp://[2001:db8::1]:6969");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "2001:db8::1");
  EXPECT_EQ(url->port, 6969);
  url = ParseTrackerUrl("http://[::1]/announce");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 80);
}

TEST(TrackerUrlTest, RejectsBadUrls) {
  for (const char* bad : {
           "",
           "tracker.example/announce",
           "ftp://t.example/",
           "udp://t.example/announce",
           "udp://t.example:0",
           "udp://t.example:65536",
           "udp://t.example:-1",
           "udp://t.example:+80",
           "udp://t.example:80x",
           "udp://t.example:",
           "http://",
           "http:///announce",
           "http://user@t.example/",
           "http://t.example /a",
           "http://t\x01.example/",
           "http://t\xc3\xa9.example/",
           "http://[::1/",
           "http://[1.2.3.4]/",
           "http://[::1]x/",
           "http://t.exa$mple/",
           "http://:80/",
       }) {
    auto url = ParseTrackerUrl(bad);
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(TrackerUrlTest, RejectsOverlong) {
  std::string url = "http://t.example/" + std::string(kMaxTrackerUrlBytes, 'a');
  EXPECT_FALSE(ParseTrackerUrl(url).ok());
}

TEST(TrackerUrlTest, ErrorNamesTheUrl) {
  auto url = ParseTrackerUrl("gopher://x");
  EXPECT_NE(url.status().message().find("gopher://x"), std::string::npos);
}

}  // namespace
}  // namespace swarm::bt::tracker
