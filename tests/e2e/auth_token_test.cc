// The control plane's token, end to end: services that others can reach refuse to run
// without one, and the embedded cluster hands its token to its processes in their
// environment, never on a command line that every local user can read.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "process/subprocess.h"
#include "rpc/token_source.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

using process::Subprocess;
using process::SubprocessOptions;

std::string ReadProcFile(int pid, const std::string& name) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/", name));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The pids whose parent is `parent`.
std::vector<int> ChildrenOf(int parent) {
  std::vector<int> children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (dirent* e = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    const std::string stat = ReadProcFile(pid, "stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    // After "pid (comm) ": state, then the parent's pid.
    std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
    int ppid = 0;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid) && ppid == parent) {
      children.push_back(pid);
    }
  }
  closedir(proc);
  return children;
}

class AuthTokenTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv(rpc::kAuthTokenEnv); }
  void TearDown() override { unsetenv(rpc::kAuthTokenEnv); }
};

TEST_F(AuthTokenTest, ServicesRefuseToListenBeyondLoopbackWithoutAToken) {
  const std::vector<std::vector<std::string>> services = {
      {"coordinator/coordinator", "--listen=0.0.0.0:0"},
      {"tracker_svc/tracker_svc", "--listen=0.0.0.0:0"},
      // Its PieceSink listens on every address when it accepts peers on every address.
      {"peer_svc/peer_svc", "--coordinator=127.0.0.1:1", "--listen_ip=0.0.0.0"},
  };
  for (const auto& argv : services) {
    SubprocessOptions options;
    options.stderr_to_stdout = true;
    auto child = Subprocess::Start(argv, options);
    ASSERT_TRUE(child.ok()) << child.status();
    auto line = (*child)->ReadLineMatching("refusing to listen on", absl::Seconds(20));
    EXPECT_TRUE(line.ok()) << argv[0] << ": " << line.status() << (*child)->output();
    if (line.ok()) EXPECT_TRUE(absl::StrContains(*line, "without an auth token")) << *line;
    const std::optional<int> status = (*child)->Wait(absl::Seconds(20));
    ASSERT_TRUE(status.has_value()) << argv[0] << " did not exit";
    EXPECT_NE(*status, 0) << argv[0];
  }
  // With the token in the environment the same services start.
  setenv(rpc::kAuthTokenEnv, "a-token", 1);
  for (const auto& argv : {services[0], services[1]}) {
    auto child = Subprocess::Start(argv);
    ASSERT_TRUE(child.ok()) << child.status();
    EXPECT_TRUE((*child)->ReadLineMatching("listening on", absl::Seconds(20)).ok()) << argv[0];
  }
}

TEST_F(AuthTokenTest, EmbeddedClusterKeepsItsTokenOffCommandLines) {
  SwarmEnv env;
  ASSERT_TRUE(env.MakePayload({{"idle.bin", 1 << 20}}, /*multi_file=*/false).ok());
  ASSERT_TRUE(env.MakeTorrentAndTracker().ok());  // no seeder: the job waits for peers
  SubprocessOptions options;
  options.stderr_to_stdout = true;
  auto cli = Subprocess::Start({SwarmEnv::SwarmCli(), "download", env.torrent_path(), "-o",
                                env.download_dir(), "--workers", "2", "-v"},
                               options);
  ASSERT_TRUE(cli.ok()) << cli.status();
  // The coordinator logs each worker's registration: by then every process runs.
  ASSERT_TRUE((*cli)->ReadLineMatching("registered from", absl::Seconds(30)).ok())
      << (*cli)->output();
  ASSERT_TRUE((*cli)->ReadLineMatching("registered from", absl::Seconds(30)).ok())
      << (*cli)->output();

  const std::vector<int> children = ChildrenOf((*cli)->pid());
  ASSERT_EQ(children.size(), 4u) << "tracker_svc, the coordinator and two workers";
  std::string token;
  for (int pid : children) {
    const std::string environ = ReadProcFile(pid, "environ");
    const std::string key = absl::StrCat(rpc::kAuthTokenEnv, "=");
    const size_t at = environ.find(key);
    ASSERT_NE(at, std::string::npos) << "pid " << pid << " has no token in its environment";
    const std::string value = environ.substr(at + key.size()).c_str();
    EXPECT_EQ(value.size(), 32u);
    if (token.empty()) token = value;
    EXPECT_EQ(value, token) << "one token for the whole cluster";
  }
  for (int pid : children) {
    const std::string cmdline = ReadProcFile(pid, "cmdline");
    EXPECT_FALSE(absl::StrContains(cmdline, token)) << cmdline;
    EXPECT_FALSE(absl::StrContains(cmdline, "auth_token")) << cmdline;
  }
  (*cli)->Signal(SIGINT);
  EXPECT_TRUE((*cli)->Wait(absl::Seconds(30)).has_value());
}

}  // namespace
}  // namespace swarm::testing
