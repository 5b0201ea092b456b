// Faults from the tracker, end to end: a tracker that is down when the download starts, then
// answers with a failure reason, then with garbage, and at last with the seeder. The download
// must say what is wrong while it waits (the progress line, without -v) and finish by itself
// once the tracker answers.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/scripted_tracker.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(120);

TEST(TrackerFaultTest, DownThenFailingThenGarbageThenAnswering) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"payload.bin", 8 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2));
  ASSERT_OK(env.WaitForSeeders());
  absl::StatusOr<std::unique_ptr<ScriptedTracker>> tracker = ScriptedTracker::Start();
  ASSERT_TRUE(tracker.ok()) << tracker.status();
  absl::StatusOr<std::string> torrent = env.WriteTorrentAnnouncing((*tracker)->announce_url());
  ASSERT_TRUE(torrent.ok()) << torrent.status();

  auto cli = StartSwarmCli({"download", *torrent, "-o", env.download_dir(), "--workers=1",
                            "--state-dir=" + env.root() + "/state",
                            // retries and announces at most 1 s apart, to keep the test short
                            "--announce-interval=1"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  auto expect_line = [&](const std::string& needle) {
    absl::StatusOr<std::string> line = (*cli)->ReadLineMatching(needle, kTimeout);
    EXPECT_TRUE(line.ok()) << "no line with \"" << needle << "\" in:\n" << (*cli)->output();
    return line.ok();
  };
  // Down: connections refused.
  ASSERT_TRUE(expect_line("(announce failed: "));
  EXPECT_EQ((*tracker)->announces(), 0);

  (*tracker)->Answer(TrackerAnswer::kFailureReason);
  ASSERT_TRUE(expect_line(ScriptedTracker::kFailureReason));

  (*tracker)->Answer(TrackerAnswer::kGarbage);
  ASSERT_TRUE(expect_line("bencode"));

  (*tracker)->Answer(TrackerAnswer::kPeers, env.SeederAddresses());
  ASSERT_EQ(FinishSwarmCli(**cli, kTimeout), 0) << (*cli)->output();
  ASSERT_OK(env.CheckDownload());
}

}  // namespace
}  // namespace swarm::testing
