#include "tests/testing/opentracker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace swarm::testing {
namespace {

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

TEST(OpentrackerTest, StartsTwoSideBySideAndStops) {
  auto a = Opentracker::Start({.info_hashes = {std::string(20, 'a')}});
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = Opentracker::Start({.info_hashes = {std::string(20, 'b'), std::string(20, 'c')}});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE((*a)->http_port(), (*b)->http_port());
  EXPECT_TRUE(absl::StartsWith((*a)->http_announce_url(), "http://127.0.0.1:"));
  EXPECT_TRUE(absl::StartsWith((*a)->udp_announce_url(), "udp://127.0.0.1:"));
  EXPECT_TRUE(Accepts((*a)->http_port()));
  const int port = (*a)->http_port();
  a->reset();
  EXPECT_FALSE(Accepts(port));
}

TEST(OpentrackerTest, RejectsBadHashes) {
  EXPECT_EQ(Opentracker::Start({.info_hashes = {"abc"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OpentrackerTest, ABinaryThatDiesIsAClearError) {
  auto tracker = Opentracker::Start({.binary = "/bin/false", .start_timeout = absl::Seconds(10)});
  EXPECT_EQ(tracker.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(tracker.status().message(), "did not start"))
      << tracker.status();
}

}  // namespace
}  // namespace swarm::testing
