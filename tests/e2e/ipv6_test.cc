// End-to-end: an IPv6 peer. A libtorrent seeder on ::1, handed out by a tracker's "peers6"
// (BEP 7; opentracker here is IPv4 only, so the test's own tracker answers), and swarm
// downloading from it byte-exact.
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/e2e/scripted_tracker.h"
#include "tests/e2e/seeders.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

TEST(Ipv6Test, DownloadsFromASeederOnTheIpv6Loopback) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"six.bin", 4 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  absl::StatusOr<std::unique_ptr<ScriptedTracker>> tracker = ScriptedTracker::Start();
  ASSERT_TRUE(tracker.ok()) << tracker.status();
  absl::StatusOr<std::string> torrent = env.WriteTorrentAnnouncing((*tracker)->announce_url());
  ASSERT_TRUE(torrent.ok()) << torrent.status();

  SeederOptions o;
  o.torrent = env.torrent_path();
  o.data_dir = env.seed_dir();
  o.ip = "::1";
  o.work_dir = env.root();
  absl::StatusOr<Seeder> seeder = StartLibtorrentSeeder(o);
  if (!seeder.ok() && absl::StrContains(seeder.status().message(), "bind")) {
    GTEST_SKIP() << "no IPv6 loopback here: " << seeder.status();
  }
  ASSERT_TRUE(seeder.ok()) << seeder.status();
  (*tracker)->Answer(TrackerAnswer::kPeers, {{"::1", seeder->port}});

  std::string output;
  ASSERT_EQ(RunSwarmCli({"download", *torrent, "-o", env.download_dir(), "--workers=2",
                         "--state-dir=" + env.root() + "/state", "--announce-interval=1"},
                        &output, absl::Seconds(120)),
            0)
      << output;
  ASSERT_OK(env.CheckDownload());
}

}  // namespace
}  // namespace swarm::testing
