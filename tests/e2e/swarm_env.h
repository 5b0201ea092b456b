// One end-to-end test environment on loopback: a payload on disk, a .torrent made by
// mktorrent, a real opentracker that knows it, real seeders (aria2c, transmission-cli), and
// swarm-cli runs against them. Everything lives in a fresh folder under TEST_TMPDIR and
// every process is stopped when the environment is destroyed.
//
//   SwarmEnv env;
//   ASSERT_OK(env.MakePayload({{"big.bin", 8 << 20}}, /*multi_file=*/false));
//   ASSERT_OK(env.MakeTorrentAndTracker());
//   ASSERT_OK(env.AddSeeder(SeederKind::kAria2));
//   ASSERT_OK(env.WaitForSeeders());
//   ... run swarm-cli download env.torrent_path() -o env.download_dir() ...
//   ASSERT_OK(env.CheckDownload());
#ifndef SWARM_TESTS_E2E_SWARM_ENV_H_
#define SWARM_TESTS_E2E_SWARM_ENV_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "process/opentracker.h"
#include "process/subprocess.h"
#include "tests/e2e/hostile_peer.h"
#include "tests/e2e/seeders.h"
#include "tests/testing/net_lab.h"

// For gtest bodies: fails the test with the status when `expr` is not OK.
#define ASSERT_OK(expr)                                    \
  do {                                                     \
    const absl::Status status_ = (expr);                   \
    ASSERT_TRUE(status_.ok()) << #expr << ": " << status_; \
  } while (0)

namespace swarm::testing {

enum class SeederKind { kAria2, kTransmission, kLibtorrent };
// Which program makes the test's .torrent.
enum class TorrentMaker { kMktorrent, kSwarmCreate };

class SwarmEnv {
 public:
  SwarmEnv();
  ~SwarmEnv();

  // Writes pseudo-random files (deterministic per name) under seed/<name>/... for a
  // multi-file torrent, or the one file seed/<files[0].first> for a single-file torrent.
  absl::Status MakePayload(const std::vector<std::pair<std::string, uint64_t>>& files,
                           bool multi_file, const std::string& multi_name = "payload");
  // A .torrent (mktorrent or `swarm-cli create`; 256 KiB pieces by default), and a real
  // opentracker on free loopback ports (or on `host`'s address) that knows the torrent and
  // that it announces to.
  absl::Status MakeTorrentAndTracker(int piece_length_log2 = 18,
                                     TorrentMaker maker = TorrentMaker::kMktorrent,
                                     NetHost* host = nullptr);
  // A seeder of the given kind on the next free 127.0.0.x address, or on `host`.
  absl::Status AddSeeder(SeederKind kind, uint64_t max_upload_bytes_per_s = 0,
                         NetHost* host = nullptr);
  // Stops every seeder added so far (aria2c, transmission): every honest peer is gone.
  void StopSeeders();
  // A hostile peer (hostile_peer.h) on the next free 127.0.0.x, known to the tracker as a
  // seeder when `announce`; it lives as long as the environment.
  absl::StatusOr<HostilePeer*> AddHostilePeer(Misbehaviour misbehaviour, bool announce = true);
  // The same torrent (same info-hash) announcing to `announce_url` instead; returns its path.
  absl::StatusOr<std::string> WriteTorrentAnnouncing(const std::string& announce_url);
  // Where the seeders added so far listen (ip, port).
  std::vector<std::pair<std::string, int>> SeederAddresses() const;
  // A swarm seeder: `swarm-cli seed` with its own coordinator and `workers` workers,
  // re-announcing every second; returns once it is seeding and known to the tracker.
  absl::Status AddSwarmSeeder(int workers = 1);
  // A real client downloading into its own folder on the next free 127.0.0.x; returns its
  // index for WaitForLeecher. `source`: the torrent's path by default, or (libtorrent) a
  // magnet link.
  absl::StatusOr<int> AddLeecher(SeederKind kind, const std::string& source = "");
  // The leecher's process, e.g. to read libtorrent's "metadata" line.
  process::Subprocess& leecher_process(int index) { return *leechers_.at(index).client.process; }
  // Waits until leecher `index` has the whole content and checks it byte for byte.
  absl::Status WaitForLeecher(int index, absl::Duration timeout = absl::Seconds(180));
  // The peers the tracker hands out for the torrent (ip, port), asked as a probe peer.
  absl::StatusOr<std::vector<std::pair<std::string, int>>> TrackerPeers();
  // Waits until the tracker counts every added seeder as complete.
  absl::Status WaitForSeeders(absl::Duration timeout = absl::Seconds(60));
  // Compares every payload file with its copy under download_dir() (or `dir`); with
  // allow_missing_empty, a zero-length file may be absent (transmission skips them).
  absl::Status CheckDownload() const { return CheckDownloadIn(download_dir_, false); }
  absl::Status CheckDownloadIn(const std::string& dir, bool allow_missing_empty) const;

  const std::string& root() const { return root_; }
  const std::string& seed_dir() const { return seed_dir_; }
  const std::string& torrent_path() const { return torrent_path_; }
  const std::string& download_dir() const { return download_dir_; }
  // The torrent's info-hash in hex, which is also the coordinator's job id.
  const std::string& info_hash_hex() const { return info_hash_hex_; }
  std::string tracker_url() const;
  // Path of swarm-cli in the test's runfiles.
  static std::string SwarmCli();
  static std::string SwarmCliAbsolute();

 private:
  // Runs `fn` on `host`'s thread, or here when there is no host.
  static absl::Status OnHost(NetHost* host, const std::function<absl::Status()>& fn);
  // The next free loopback address of our own, 127.0.0.2 onwards.
  std::string NextLoopbackIp() { return absl::StrCat("127.0.0.", 2 + next_ip_++); }
  // An HTTP GET to the tracker, from the tracker's host.
  absl::StatusOr<std::string> TrackerGet(const std::string& target);

  std::string root_;
  std::string seed_dir_;
  std::string download_dir_;
  std::string torrent_path_;
  std::string content_name_;
  std::vector<std::string> relative_files_;
  std::string info_hash_hex_;
  std::unique_ptr<process::Opentracker> tracker_;
  NetHost* tracker_host_ = nullptr;
  std::vector<Seeder> seeders_;
  struct Leecher {
    SeederKind kind;
    Seeder client;
    std::string dir;
    std::string work_dir;
  };
  std::vector<Leecher> leechers_;
  std::vector<std::unique_ptr<process::Subprocess>> swarm_seeders_;
  std::vector<std::unique_ptr<HostilePeer>> hostile_peers_;
  int next_ip_ = 0;
  int written_torrents_ = 0;
};

// swarm-cli from the test's runfiles, with `args`, its stderr merged into its output.
absl::StatusOr<std::unique_ptr<process::Subprocess>> StartSwarmCli(
    const std::vector<std::string>& args);
// Reads what `cli` prints until it exits. Returns its exit status (128 + the signal when one
// ended it), or -2 when it was still running after `timeout` (it is stopped then).
int FinishSwarmCli(process::Subprocess& cli, absl::Duration timeout = absl::Seconds(240));
// Both; `output` (when given) gets everything it printed. -1 when it could not start.
int RunSwarmCli(const std::vector<std::string>& args, std::string* output = nullptr,
                absl::Duration timeout = absl::Seconds(240));

}  // namespace swarm::testing

#endif  // SWARM_TESTS_E2E_SWARM_ENV_H_
