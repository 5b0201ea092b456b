#include "process/opentracker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bt/tracker/udp_packet.h"
#include "gtest/gtest.h"

namespace swarm::process {
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

// One BEP 15 connect and announce (event none) for `info_hash`: OK when it is served.
absl::Status UdpAnnounce(int port, const std::string& info_hash) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto exchange = [fd](const std::string& request) {
    send(fd, request.data(), request.size(), 0);
    pollfd p{fd, POLLIN, 0};
    char buf[512];
    if (poll(&p, 1, 5000) <= 0) return std::string();
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  };
  absl::Status result;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    result = absl::UnavailableError("connect");
  } else if (absl::StatusOr<uint64_t> id = bt::tracker::DecodeUdpConnectResponse(
                 exchange(bt::tracker::EncodeUdpConnectRequest(7)), 7);
             !id.ok()) {
    result = id.status();
  } else {
    bt::tracker::AnnounceParams params;
    params.info_hash = info_hash;
    params.peer_id = std::string(20, 'q');
    params.port = 2;
    absl::StatusOr<std::string> request = bt::tracker::EncodeUdpAnnounceRequest(*id, 8, params);
    result = request.ok() ? bt::tracker::DecodeUdpAnnounceResponse(exchange(*request), 8,
                                                                   bt::tracker::IpFamily::kV4)
                                .status()
                          : request.status();
  }
  close(fd);
  return result;
}

TEST(OpentrackerTest, StartReturnsOnlyOnceTheWhitelistIsRead) {
  // opentracker reads its whitelist on a thread of its own, after binding its ports; a large
  // one takes it a good part of a second here, refusing every info-hash meanwhile.
  std::vector<std::string> hashes;
  for (int i = 0; i < 200'000; ++i) {
    std::string h(20, 'w');
    std::memcpy(h.data(), &i, sizeof(i));
    hashes.push_back(h);
  }
  const std::string last = hashes.back();
  auto tracker = Opentracker::Start({.info_hashes = std::move(hashes)});
  ASSERT_TRUE(tracker.ok()) << tracker.status();
  EXPECT_TRUE(UdpAnnounce((*tracker)->udp_port(), last).ok());
  EXPECT_EQ(UdpAnnounce((*tracker)->udp_port(), std::string(20, 'x')).code(),
            absl::StatusCode::kFailedPrecondition)
      << "an info-hash off the list is refused";
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
  EXPECT_TRUE(absl::StrContains(tracker.status().message(), "did not start")) << tracker.status();
}

}  // namespace
}  // namespace swarm::process
