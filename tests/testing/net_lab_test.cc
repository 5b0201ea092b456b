#include "tests/testing/net_lab.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace swarm::testing {
namespace {

#define ASSERT_OK(expr)                                    \
  do {                                                     \
    const absl::Status status_ = (expr);                   \
    ASSERT_TRUE(status_.ok()) << #expr << ": " << status_; \
  } while (0)

sockaddr_in Address(const std::string& ip, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  return addr;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST(NetLabTest, HostsReachEachOtherAtTheirOwnAddresses) {
  auto lab = NetLab::Create();
  ASSERT_TRUE(lab.ok()) << lab.status();
  auto a = (*lab)->AddHost("a");
  auto b = (*lab)->AddHost("b", {.rate_bits_per_s = 50'000'000});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_NE((*a)->ip(), (*b)->ip());

  int listener = -1;
  int port = 0;
  ASSERT_OK((*b)->Run([&] {
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Address((*b)->ip(), 0);
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listener, 1) != 0) {
      return absl::InternalError("cannot listen on b's address");
    }
    socklen_t len = sizeof(addr);
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    return absl::OkStatus();
  }));
  ASSERT_OK((*a)->Run([&] {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Address((*b)->ip(), port);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    sockaddr_in self{};
    socklen_t len = sizeof(self);
    getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len);
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &self.sin_addr, text, sizeof(text));
    close(fd);
    if (!ok) return absl::UnavailableError("a cannot reach b");
    if (text != (*a)->ip()) return absl::InternalError(absl::StrCat("a connects from ", text));
    return absl::OkStatus();
  }));
  close(listener);
}

TEST(NetLabTest, HiddenFoldersDoNotExistForTheProcessAndEverythingIsRemoved) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string shared = std::string(tmp != nullptr ? tmp : "/tmp") + "/net_lab_shared";
  mkdir(shared.c_str(), 0755);
  mkdir((shared + "/out").c_str(), 0755);
  std::string netns;
  std::unique_ptr<process::Subprocess> sleeper;
  {
    auto lab = NetLab::Create();
    ASSERT_TRUE(lab.ok()) << lab.status();
    auto host = (*lab)->AddHost("blind");
    ASSERT_TRUE(host.ok()) << host.status();
    netns = (*host)->netns();
    const std::string probe = "if [ -e \"$1\" ]; then echo sees; else echo blind; fi";
    auto blind = (*host)->Start({"/bin/sh", "-c", probe, "sh", shared + "/out"}, {}, {shared});
    ASSERT_TRUE(blind.ok()) << blind.status();
    auto line = (*blind)->ReadLineMatching("", absl::Seconds(10));
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_EQ(*line, "blind");
    auto seeing = (*host)->Start({"/bin/sh", "-c", probe, "sh", shared + "/out"});
    ASSERT_TRUE(seeing.ok()) << seeing.status();
    line = (*seeing)->ReadLineMatching("", absl::Seconds(10));
    ASSERT_TRUE(line.ok()) << line.status();
    EXPECT_EQ(*line, "sees");
    EXPECT_TRUE(Exists(shared + "/out")) << "the mount leaked out of its namespace";

    auto started = (*host)->Start({"/bin/sleep", "600"});
    ASSERT_TRUE(started.ok()) << started.status();
    sleeper = *std::move(started);
    EXPECT_TRUE(Exists("/run/netns/" + netns));
  }
  EXPECT_FALSE(Exists("/run/netns/" + netns));
  EXPECT_TRUE(sleeper->Wait(absl::Seconds(10)).has_value()) << "a process outlived its lab";
}

}  // namespace
}  // namespace swarm::testing
