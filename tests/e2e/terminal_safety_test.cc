// A torrent's name is the torrent maker's: swarm-cli prints it with its control characters
// defused, so that a name cannot rewrite the user's terminal (clear it, set its title).
#include <signal.h>

#include <string>

#include "gtest/gtest.h"
#include "process/subprocess.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

TEST(TerminalSafetyTest, DownloadShowsAHostileNameWithoutItsControlCharacters) {
  SwarmEnv env;
  // ESC [2J clears the screen; ESC ]0;...BEL sets the window title.
  ASSERT_TRUE(env.MakePayload({{"evil\x1b[2J\x1b]0;owned\x07.bin", 1 << 20}}, false).ok());
  ASSERT_TRUE(env.MakeTorrentAndTracker().ok());  // no seeder: the job waits for peers
  process::SubprocessOptions options;
  options.stderr_to_stdout = true;
  auto cli = process::Subprocess::Start(
      {SwarmEnv::SwarmCli(), "download", env.torrent_path(), "-o", env.download_dir()}, options);
  ASSERT_TRUE(cli.ok()) << cli.status();
  auto line = (*cli)->ReadLineMatching("swarm: evil", absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status() << (*cli)->output();
  EXPECT_EQ(line->find('\x1b'), std::string::npos) << *line;
  EXPECT_EQ(line->find('\x07'), std::string::npos) << *line;
  EXPECT_NE(line->find("evil?[2J?]0;owned?.bin"), std::string::npos) << *line;
  (*cli)->Signal(SIGINT);
  EXPECT_TRUE((*cli)->Wait(absl::Seconds(30)).has_value());
}

}  // namespace
}  // namespace swarm::testing
