// End-to-end: magnet links (BEP 9) between swarm and libtorrent, with a real opentracker.
#include "bt/magnet.h"

#include <string>

#include "absl/strings/escaping.h"
#include "base/testing/files.h"
#include "bt/metainfo.h"
#include "bt/sha1.h"
#include "gtest/gtest.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

// The link for the environment's torrent: its info-hash and the tracker, as ToMagnet writes
// them (so libtorrent's parser reads our writer's output).
std::string MagnetFor(const SwarmEnv& env) {
  bt::MagnetLink link;
  const std::string raw = absl::HexStringToBytes(env.info_hash_hex());
  std::copy(raw.begin(), raw.end(), link.info_hash.begin());
  link.name = "swarm test";
  link.trackers = {env.tracker_url()};
  return bt::ToMagnet(link);
}

// libtorrent with only a magnet link: the info dictionary comes from swarm's workers
// (ut_metadata, the only peer there is), then the data.
TEST(MagnetTest, LibtorrentGetsTheMetadataAndTheDataFromASwarmSeeder) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"a.bin", 3 << 20}, {"sub/b.bin", (1 << 20) + 17}},
                            /*multi_file=*/true));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSwarmSeeder());
  absl::StatusOr<int> leecher = env.AddLeecher(SeederKind::kLibtorrent, MagnetFor(env));
  ASSERT_OK(leecher.status());
  absl::StatusOr<std::string> line =
      env.leecher_process(*leecher).ReadLineMatching("metadata", absl::Seconds(120));
  ASSERT_TRUE(line.ok()) << line.status() << env.leecher_process(*leecher).output();
  ASSERT_OK(env.WaitForLeecher(*leecher));
}

// swarm with only a magnet link: the metadata (ut_metadata) and then the data from a real
// seeder found through the link's tracker; --save-torrent writes the .torrent.
class MagnetDownloadTest : public ::testing::TestWithParam<SeederKind> {};

TEST_P(MagnetDownloadTest, DownloadsAMagnetLink) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"a.bin", 3 << 20}, {"sub/b.bin", (1 << 20) + 17}},
                            /*multi_file=*/true));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(GetParam()));
  ASSERT_OK(env.WaitForSeeders());
  const std::string saved = env.root() + "/saved.torrent";
  std::string output;
  ASSERT_EQ(RunSwarmCli({"download", MagnetFor(env), "-o", env.download_dir(), "--workers=2",
                         "--state-dir=" + env.root() + "/state", "--save-torrent", saved},
                        &output, absl::Seconds(120)),
            0)
      << output;
  EXPECT_NE(output.find("fetching its metadata from peers"), std::string::npos) << output;
  EXPECT_NE(output.find("metadata found"), std::string::npos) << output;
  ASSERT_OK(env.CheckDownload());
  absl::StatusOr<bt::Metainfo> m = bt::ParseMetainfo(ReadWholeFile(saved));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(bt::ToHex(m->info_hash), env.info_hash_hex());
  EXPECT_EQ(m->trackers, (std::vector<std::vector<std::string>>{{env.tracker_url()}}));
}

INSTANTIATE_TEST_SUITE_P(Seeders, MagnetDownloadTest,
                         ::testing::Values(SeederKind::kLibtorrent, SeederKind::kAria2),
                         [](const ::testing::TestParamInfo<SeederKind>& info) {
                           return info.param == SeederKind::kLibtorrent ? "Libtorrent" : "Aria2";
                         });

// No tracker in the link: the peers it names (x.pe) are all there is.
TEST(MagnetTest, DownloadsFromThePeersALinkNamesWithoutATracker) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"x.bin", 2 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kLibtorrent));
  ASSERT_OK(env.WaitForSeeders());
  bt::MagnetLink link;
  const std::string raw = absl::HexStringToBytes(env.info_hash_hex());
  std::copy(raw.begin(), raw.end(), link.info_hash.begin());
  for (const auto& [ip, port] : env.SeederAddresses()) {
    link.peers.push_back(*bt::Endpoint::Make(ip, port));
  }
  std::string output;
  ASSERT_EQ(RunSwarmCli({"download", bt::ToMagnet(link), "-o", env.download_dir(),
                         "--state-dir=" + env.root() + "/state"},
                        &output, absl::Seconds(120)),
            0)
      << output;
  ASSERT_OK(env.CheckDownload());
}

// What is not a usable magnet link is refused before anything starts (exit status 2).
TEST(MagnetTest, RefusesABadLink) {
  std::string output;
  EXPECT_EQ(RunSwarmCli({"download", "magnet:?xt=urn:btih:nothex", "-o", "/tmp"}, &output,
                        absl::Seconds(30)),
            2)
      << output;
  EXPECT_NE(output.find("is not an info-hash"), std::string::npos) << output;
}

}  // namespace
}  // namespace swarm::testing
