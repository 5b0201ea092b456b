// End-to-end: magnet links (BEP 9) between swarm and libtorrent, with a real opentracker.
#include "bt/magnet.h"

#include <string>

#include "absl/strings/escaping.h"
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

}  // namespace
}  // namespace swarm::testing
