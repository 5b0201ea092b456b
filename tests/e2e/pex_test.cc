// End-to-end: peer exchange (BEP 11) with libtorrent. swarm is given one libtorrent peer, a
// leecher that holds next to nothing (its download capped); the seeder that leecher is
// connected to is listed nowhere. swarm can only finish by learning the seeder from the
// leecher's ut_pex message (libtorrent sends its first about a minute into a connection).
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "bt/magnet.h"
#include "gtest/gtest.h"
#include "tests/e2e/seeders.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

TEST(PexTest, APeerNoTrackerListsIsLearnedFromALibtorrentPeerAndUsed) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"pex.bin", 4 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  // The seeder nobody lists: its torrent announces to a tracker that is not there.
  absl::StatusOr<std::string> hidden_torrent =
      env.WriteTorrentAnnouncing("http://127.0.0.1:1/announce");
  ASSERT_TRUE(hidden_torrent.ok()) << hidden_torrent.status();
  SeederOptions s;
  s.torrent = *hidden_torrent;
  s.data_dir = env.seed_dir();
  s.ip = "127.0.0.240";
  s.work_dir = env.root();
  absl::StatusOr<Seeder> hidden = StartLibtorrentSeeder(s);
  ASSERT_TRUE(hidden.ok()) << hidden.status();

  // The listed leecher: dials the hidden seeder, fetches at 1 KB/s (no whole piece for the
  // test's duration), and so stays connected to it.
  SeederOptions l;
  l.torrent = env.torrent_path();
  l.data_dir = env.root() + "/leecher";
  l.ip = "127.0.0.241";
  l.work_dir = env.root();
  l.max_download_bytes_per_s = 1000;
  l.connect_to = absl::StrCat(s.ip, ":", hidden->port);
  ASSERT_EQ(system(("mkdir -p " + l.data_dir).c_str()), 0);
  absl::StatusOr<Seeder> leecher = StartLibtorrentLeecher(l);
  ASSERT_TRUE(leecher.ok()) << leecher.status();

  // swarm knows only the leecher (the link's x.pe), no tracker: the metadata comes from it,
  // and the data can only come from the seeder it names.
  bt::MagnetLink link;
  const std::string raw = absl::HexStringToBytes(env.info_hash_hex());
  std::copy(raw.begin(), raw.end(), link.info_hash.begin());
  link.peers.push_back(*bt::Endpoint::Make(l.ip, leecher->port));
  std::string output;
  ASSERT_EQ(RunSwarmCli({"download", bt::ToMagnet(link), "-o", env.download_dir(), "--workers=1",
                         "--state-dir=" + env.root() + "/state", "-v"},
                        &output, absl::Seconds(240)),
            0)
      << output;
  EXPECT_NE(output.find("(peer exchange)"), std::string::npos) << output;
  ASSERT_OK(env.CheckDownload());
}

}  // namespace
}  // namespace swarm::testing
