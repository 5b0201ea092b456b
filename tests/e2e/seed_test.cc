// End-to-end: swarm as a full peer. Real transmission-cli and aria2c leechers download from
// swarm seeders (`swarm-cli seed`) through a real opentracker, byte-exact; a mixed swarm
// completes for every leecher; a peer that sends bad requests is dropped while the others
// are served.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"

#include "absl/strings/str_cat.h"
#include "bt/wire.h"
#include "gtest/gtest.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

const std::vector<std::pair<std::string, uint64_t>> kMultiFiles = {
    {"a.bin", 3 << 20}, {"empty.txt", 0}, {"sub/b.bin", (2 << 20) + 99}, {"sub/deeper/c.txt", 777}};

TEST(SeedTest, Aria2DownloadsSingleFileFromSwarm) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"single.bin", (8 << 20) + 4321}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSwarmSeeder());
  auto leecher = env.AddLeecher(SeederKind::kAria2);
  ASSERT_TRUE(leecher.ok());
  ASSERT_OK(env.WaitForLeecher(*leecher));
}

// The torrent here is made by `swarm-cli create`.
TEST(SeedTest, Aria2DownloadsMultiFileFromSwarm) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload(kMultiFiles, /*multi_file=*/true));
  ASSERT_OK(env.MakeTorrentAndTracker(/*piece_length_log2=*/16, TorrentMaker::kSwarmCreate));
  ASSERT_OK(env.AddSwarmSeeder(/*workers=*/2));
  auto leecher = env.AddLeecher(SeederKind::kAria2);
  ASSERT_TRUE(leecher.ok());
  ASSERT_OK(env.WaitForLeecher(*leecher));
}

// The torrent is made by `swarm-cli create`. transmission drops 127.x peers from trackers:
// it only gets data over connections the swarm seeder opens to it after learning of it from
// a re-announce.
TEST(SeedTest, TransmissionDownloadsSingleFileFromSwarm) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"single.bin", 6 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker(/*piece_length_log2=*/18, TorrentMaker::kSwarmCreate));
  ASSERT_OK(env.AddSwarmSeeder());
  auto leecher = env.AddLeecher(SeederKind::kTransmission);
  ASSERT_TRUE(leecher.ok());
  ASSERT_OK(env.WaitForLeecher(*leecher));
}

TEST(SeedTest, TransmissionDownloadsMultiFileFromSwarm) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload(kMultiFiles, /*multi_file=*/true));
  ASSERT_OK(env.MakeTorrentAndTracker(/*piece_length_log2=*/16));
  ASSERT_OK(env.AddSwarmSeeder());
  auto leecher = env.AddLeecher(SeederKind::kTransmission);
  ASSERT_TRUE(leecher.ok());
  ASSERT_OK(env.WaitForLeecher(*leecher));
}

// One swarm seeder and one transmission seeder; a swarm leecher and an aria2 leecher.
TEST(SeedTest, MixedSwarmCompletesForEveryLeecher) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"mixed.bin", 10 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kTransmission));
  ASSERT_OK(env.AddSwarmSeeder());
  auto aria2 = env.AddLeecher(SeederKind::kAria2);
  ASSERT_TRUE(aria2.ok());
  process::SubprocessOptions options;
  options.stderr_to_stdout = true;
  auto swarm_leecher =
      process::Subprocess::Start({SwarmEnv::SwarmCli(), "download", env.torrent_path(), "-o",
                                  env.download_dir(), "--workers=2"},
                                 options);
  ASSERT_TRUE(swarm_leecher.ok());
  (*swarm_leecher)->ReadLineMatching("\x01never\x01", absl::Seconds(180)).IgnoreError();
  std::optional<int> status = (*swarm_leecher)->Wait(absl::Seconds(10));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << (*swarm_leecher)->output();
  ASSERT_OK(env.CheckDownload());
  ASSERT_OK(env.WaitForLeecher(*aria2));
}

// Connects to ip:port as a BitTorrent peer of the torrent; returns the socket.
int ConnectPeer(const std::string& ip, int port, const std::string& info_hash_hex) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  bt::Handshake h;
  h.set_fast_extension(true);
  const std::string raw = absl::HexStringToBytes(info_hash_hex);
  std::memcpy(h.info_hash.data(), raw.data(), 20);
  std::memcpy(h.peer_id.data(), "-XX0001-badrequester", 20);
  const std::string out = bt::EncodeHandshake(h);
  if (write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads and discards until the peer closes the connection or `timeout` passes; returns true
// when it closed.
bool ClosedWithin(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  char buf[65536];
  while (absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const int rc = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now())) + 1);
    if (rc <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return true;
  }
  return false;
}

// A hostile peer asks the swarm seeder for blocks that do not exist, over and over: the
// seeder drops it, and an aria2c leecher arriving meanwhile is served in full.
TEST(SeedTest, PeerSendingBadRequestsIsDroppedWhileOthersAreServed) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"target.bin", 4 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSwarmSeeder());
  auto peers = env.TrackerPeers();
  ASSERT_TRUE(peers.ok()) << peers.status();
  ASSERT_FALSE(peers->empty());
  const int fd = ConnectPeer(peers->front().first, peers->front().second, env.info_hash_hex());
  ASSERT_GE(fd, 0);
  std::string bad;
  bt::AppendInterested(&bad);
  for (int i = 0; i < 300; ++i) {
    // Inside the torrent's piece count (16 pieces of 256 KiB) but far past the piece's end,
    // and larger than any client sends: refused, and a peer that persists is dropped.
    bt::AppendRequest(&bad, i % 16, 1 << 30, 1 << 20);
  }
  ASSERT_EQ(write(fd, bad.data(), bad.size()), static_cast<ssize_t>(bad.size()));

  auto leecher = env.AddLeecher(SeederKind::kAria2);
  ASSERT_TRUE(leecher.ok());
  EXPECT_TRUE(ClosedWithin(fd, absl::Seconds(30))) << "the seeder kept the bad peer";
  close(fd);
  ASSERT_OK(env.WaitForLeecher(*leecher));
}

}  // namespace
}  // namespace swarm::testing
