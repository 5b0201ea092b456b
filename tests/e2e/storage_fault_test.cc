// Faults in the output folder, end to end: a disk too small, a read-only folder, and a
// symlink, hard link or FIFO planted in the output tree while the download waits for its
// seeder. Each ends in a clear error (and a later run with the fault gone completes), never
// a hang, and nothing is written outside the output folder.
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/testing/files.h"
#include "gtest/gtest.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(120);
const std::vector<std::pair<std::string, uint64_t>> kFiles = {{"a.bin", 6 << 20},
                                                              {"sub/b.bin", 2 << 20}};

std::vector<std::string> DownloadArgs(const SwarmEnv& env, const std::string& dir) {
  return {"download",
          env.torrent_path(),
          "-o",
          dir,
          "--workers=1",
          "--state-dir=" + env.root() + "/state",
          "--announce-interval=1"};
}

// A tmpfs of its own at `dir`, unmounted when this goes away (also when the test fails).
class SmallDisk {
 public:
  explicit SmallDisk(std::string dir) : dir_(std::move(dir)) { mkdir(dir_.c_str(), 0755); }
  ~SmallDisk() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  absl::Status Mount(const std::string& options, unsigned long flags = 0) {
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", flags, options.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("mount tmpfs ", options, ": ", std::strerror(errno)));
    }
    mounted_ = true;
    return absl::OkStatus();
  }
  absl::Status Remount(const std::string& options, unsigned long flags = 0) {
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT | flags, options.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("remount ", options, ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

absl::Status SetUpSwarm(SwarmEnv& env) {
  SWARM_RETURN_IF_ERROR(env.MakePayload(kFiles, /*multi_file=*/true));
  SWARM_RETURN_IF_ERROR(env.MakeTorrentAndTracker());
  SWARM_RETURN_IF_ERROR(env.AddSeeder(SeederKind::kAria2));
  return env.WaitForSeeders();
}

TEST(StorageFaultTest, DiskTooSmallIsAClearErrorAndARunWithSpaceCompletes) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to mount a small tmpfs";
  SwarmEnv env;
  ASSERT_OK(SetUpSwarm(env));
  SmallDisk disk(env.root() + "/small");
  ASSERT_OK(disk.Mount("size=4m"));

  std::string output;
  EXPECT_EQ(RunSwarmCli(DownloadArgs(env, disk.dir()), &output, kTimeout), 1) << output;
  EXPECT_NE(output.find("not enough space for payload/a.bin"), std::string::npos) << output;

  ASSERT_OK(disk.Remount("size=64m"));
  ASSERT_EQ(RunSwarmCli(DownloadArgs(env, disk.dir()), &output, kTimeout), 0) << output;
  ASSERT_OK(env.CheckDownloadIn(disk.dir(), /*allow_missing_empty=*/false));
}

TEST(StorageFaultTest, ReadOnlyOutputFolderIsAClearError) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to mount a read-only tmpfs";
  SwarmEnv env;
  ASSERT_OK(SetUpSwarm(env));
  SmallDisk disk(env.root() + "/readonly");
  ASSERT_OK(disk.Mount("size=64m", MS_RDONLY));

  std::string output;
  EXPECT_EQ(RunSwarmCli(DownloadArgs(env, disk.dir()), &output, kTimeout), 1) << output;
  EXPECT_NE(output.find("Read-only file system"), std::string::npos) << output;

  ASSERT_OK(disk.Remount("size=64m"));
  ASSERT_EQ(RunSwarmCli(DownloadArgs(env, disk.dir()), &output, kTimeout), 0) << output;
  ASSERT_OK(env.CheckDownloadIn(disk.dir(), /*allow_missing_empty=*/false));
}

enum class Plant { kSymlinkedFile, kSymlinkedFolder, kHardLink, kFifo };

// The download starts with no seeder; once its files are laid out, `plant` replaces one of
// them (or its folder), and then the seeder arrives.
void DownloadWithPlanted(Plant plant) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload(kFiles, /*multi_file=*/true));
  ASSERT_OK(env.MakeTorrentAndTracker());
  const std::string out = env.download_dir();
  const std::string outside = env.root() + "/outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0755), 0);
  const std::string victim = outside + "/b.bin";
  std::ofstream(victim) << "not yours";

  auto cli = StartSwarmCli(DownloadArgs(env, out));
  ASSERT_TRUE(cli.ok()) << cli.status();
  // The files are laid out and the worker has opened the folder: it takes part.
  ASSERT_TRUE((*cli)->ReadLineMatching("workers 1", kTimeout).ok()) << (*cli)->output();
  // Each plant is made beside its target and swapped in with one rename, so that the
  // worker never finds the path missing in between.
  const std::string target = out + "/payload/sub/b.bin";
  const std::string planted = out + "/payload/sub/planted";
  std::string refusal;
  switch (plant) {
    case Plant::kSymlinkedFile:
      ASSERT_EQ(symlink(victim.c_str(), planted.c_str()), 0);
      ASSERT_EQ(rename(planted.c_str(), target.c_str()), 0);
      refusal = "cannot open payload/sub/b.bin";
      break;
    case Plant::kSymlinkedFolder: {
      const std::string folder = out + "/payload/sub";
      const std::string link = out + "/payload/planted";
      ASSERT_EQ(symlink(outside.c_str(), link.c_str()), 0);
      ASSERT_EQ(renameat2(AT_FDCWD, link.c_str(), AT_FDCWD, folder.c_str(), RENAME_EXCHANGE), 0)
          << std::strerror(errno);
      refusal = "cannot open folder of payload/sub/b.bin";
      break;
    }
    case Plant::kHardLink:
      ASSERT_EQ(link(victim.c_str(), planted.c_str()), 0);
      ASSERT_EQ(rename(planted.c_str(), target.c_str()), 0);
      refusal = "hard links";
      break;
    case Plant::kFifo:
      ASSERT_EQ(mkfifo(planted.c_str(), 0644), 0);
      ASSERT_EQ(rename(planted.c_str(), target.c_str()), 0);
      refusal = "not a regular file";
      break;
  }
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2));

  EXPECT_EQ(FinishSwarmCli(**cli, kTimeout), 1) << (*cli)->output();
  EXPECT_NE((*cli)->output().find(refusal), std::string::npos) << (*cli)->output();
  EXPECT_EQ(ReadWholeFile(victim), "not yours");
}

TEST(StorageFaultTest, SymlinkPlantedAtAFileIsRefused) {
  DownloadWithPlanted(Plant::kSymlinkedFile);
}
TEST(StorageFaultTest, SymlinkPlantedAtAFolderIsRefused) {
  DownloadWithPlanted(Plant::kSymlinkedFolder);
}
TEST(StorageFaultTest, HardLinkPlantedAtAFileIsRefused) { DownloadWithPlanted(Plant::kHardLink); }
TEST(StorageFaultTest, FifoPlantedAtAFileIsRefusedWithoutBlocking) {
  DownloadWithPlanted(Plant::kFifo);
}

}  // namespace
}  // namespace swarm::testing
