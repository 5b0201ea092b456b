// End-to-end across hosts: the tracker, each seeder, the coordinator (with tracker_svc and the
// CLI) and each worker on a host of its own (network namespaces on one bridge, NetLab), every
// process at its own address as on separate machines. Every download is compared byte for
// byte with the original.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "process/subprocess.h"
#include "rpc/token_source.h"
#include "tests/e2e/swarm_env.h"
#include "tests/testing/net_lab.h"

namespace swarm::testing {
namespace {

constexpr absl::Duration kDownloadTimeout = absl::Seconds(180);
constexpr char kToken[] = "across-hosts-token";

class AcrossHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Every service here listens beyond loopback, so each needs the token; they inherit it.
    setenv(rpc::kAuthTokenEnv, kToken, 1);
    auto lab = NetLab::Create();
    ASSERT_TRUE(lab.ok()) << lab.status();
    lab_ = *std::move(lab);
    for (const char* name : {"tracker", "seed1", "seed2", "coord"}) {
      auto host = lab_->AddHost(name);
      ASSERT_TRUE(host.ok()) << host.status();
      hosts_[name] = *host;
    }
  }

  // The payload, opentracker on its host and an aria2c seeder on each seed host, each
  // uploading at most `seeder_rate` bytes per second (0: no cap).
  void StartSwarm(uint64_t size, uint64_t seeder_rate = 0) {
    ASSERT_OK(env_.MakePayload({{"across.bin", size}}, /*multi_file=*/false));
    ASSERT_OK(env_.MakeTorrentAndTracker(18, TorrentMaker::kMktorrent, hosts_["tracker"]));
    ASSERT_OK(env_.AddSeeder(SeederKind::kAria2, seeder_rate, hosts_["seed1"]));
    ASSERT_OK(env_.AddSeeder(SeederKind::kAria2, seeder_rate, hosts_["seed2"]));
    ASSERT_OK(env_.WaitForSeeders());
  }

  // tracker_svc and the coordinator on the coordinator's host, listening on its address.
  void StartCoordinator() {
    NetHost* coord = hosts_["coord"];
    auto tracker_svc = coord->Start({"tracker_svc/tracker_svc", "--listen=" + coord->ip() + ":0"});
    ASSERT_TRUE(tracker_svc.ok()) << tracker_svc.status();
    auto line = (*tracker_svc)->ReadLineMatching("listening on", absl::Seconds(20));
    ASSERT_TRUE(line.ok()) << line.status();
    (*tracker_svc)->DrainStdout();
    tracker_svc_address_ = line->substr(line->rfind(' ') + 1);
    processes_.push_back(*std::move(tracker_svc));
    ASSERT_NO_FATAL_FAILURE(RunCoordinator(coord->ip() + ":0"));
  }

  // The coordinator process on `listen` (its former address when it is started again), with
  // a state folder of its own.
  void RunCoordinator(const std::string& listen) {
    auto coordinator = hosts_["coord"]->Start(
        {"coordinator/coordinator", "--listen=" + listen, "--tracker_svc=" + tracker_svc_address_,
         "--state_dir=" + env_.root() + "/coordinator-state"});
    ASSERT_TRUE(coordinator.ok()) << coordinator.status();
    auto line = (*coordinator)->ReadLineMatching("listening on", absl::Seconds(20));
    ASSERT_TRUE(line.ok()) << line.status();
    (*coordinator)->DrainStdout();
    coordinator_address_ = line->substr(line->rfind(' ') + 1);
    coordinator_ = *std::move(coordinator);
  }

  // Reads the CLI's progress lines (plain: "12.3%  ...  workers N  ...") until `done` says
  // so; the last percentage seen goes to *percent.
  static absl::Status ReadProgressUntil(process::Subprocess& cli,
                                        const std::function<bool(double, int)>& done,
                                        double* percent, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      absl::StatusOr<std::string> line = cli.ReadLineMatching("%", deadline - absl::Now());
      if (!line.ok()) return line.status();
      double p = 0;
      int workers = -1;
      const size_t at = line->find("workers ");
      if (!absl::SimpleAtod(line->substr(0, line->find('%')), &p) || at == std::string::npos ||
          std::sscanf(line->c_str() + at, "workers %d", &workers) != 1) {
        continue;
      }
      *percent = p;
      if (done(p, workers)) return absl::OkStatus();
    }
    return absl::DeadlineExceededError("the progress never got there");
  }

  // A worker on a host of its own; a blind one runs where the test's folder (and so the
  // output folder) does not exist. With `own_tracker_svc` it is announced through a
  // tracker_svc on its host. Returns where it accepts peers ("ip:port").
  std::string StartWorker(const std::string& name, bool blind, bool own_tracker_svc = false) {
    auto host = lab_->AddHost(name);
    EXPECT_TRUE(host.ok()) << host.status();
    if (!host.ok()) return "";
    hosts_[name] = *host;
    std::vector<std::string> hidden;
    if (blind) hidden.push_back(env_.root());
    std::vector<std::string> argv = {"peer_svc/peer_svc", "--coordinator=" + coordinator_address_,
                                     "--name=" + name};
    if (own_tracker_svc) {
      auto tracker_svc =
          (*host)->Start({"tracker_svc/tracker_svc", "--listen=" + (*host)->ip() + ":0"});
      EXPECT_TRUE(tracker_svc.ok()) << tracker_svc.status();
      if (!tracker_svc.ok()) return "";
      auto line = (*tracker_svc)->ReadLineMatching("listening on", absl::Seconds(20));
      EXPECT_TRUE(line.ok()) << line.status();
      if (!line.ok()) return "";
      (*tracker_svc)->DrainStdout();
      argv.push_back("--tracker_svc=" + line->substr(line->rfind(' ') + 1));
      processes_.push_back(*std::move(tracker_svc));
    }
    auto worker = (*host)->Start(argv, {.stderr_to_stdout = true}, hidden);
    EXPECT_TRUE(worker.ok()) << worker.status();
    if (!worker.ok()) return "";
    auto line = (*worker)->ReadLineMatching("registered as worker", absl::Seconds(20));
    EXPECT_TRUE(line.ok()) << line.status() << (*worker)->output();
    if (!line.ok()) return "";
    // Peers elsewhere reach it at its host's address, not on its loopback.
    const std::string accepting = "accepting peers on " + (*host)->ip() + " port ";
    const size_t at = line->find(accepting);
    EXPECT_NE(at, std::string::npos) << *line;
    (*worker)->DrainStdout();
    processes_.push_back(*std::move(worker));
    if (at == std::string::npos) return "";
    return absl::StrCat((*host)->ip(), ":", line->substr(at + accepting.size()));
  }

  // `swarm-cli download --coordinator` on the coordinator's host.
  std::unique_ptr<process::Subprocess> StartCli() {
    process::SubprocessOptions options;
    options.stderr_to_stdout = true;
    auto cli =
        hosts_["coord"]->Start({SwarmEnv::SwarmCli(), "download", env_.torrent_path(), "-o",
                                env_.download_dir(), "--coordinator=" + coordinator_address_},
                               options);
    EXPECT_TRUE(cli.ok()) << cli.status();
    return cli.ok() ? *std::move(cli) : nullptr;
  }

  // Waits for the CLI to exit: its exit status, and in *output all it printed.
  static int WaitForCli(process::Subprocess& cli, std::string* output) {
    cli.ReadLineMatching("\x01never\x01", kDownloadTimeout).IgnoreError();
    std::optional<int> status = cli.Wait(absl::Seconds(10));
    *output = cli.output();
    if (!status) return -2;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  }

  int RunCli(std::string* output) {
    std::unique_ptr<process::Subprocess> cli = StartCli();
    return cli == nullptr ? -1 : WaitForCli(*cli, output);
  }

  // Destroyed in reverse: the processes, then the environment's seeders and tracker, then
  // the hosts.
  std::unique_ptr<NetLab> lab_;
  std::map<std::string, NetHost*> hosts_;
  SwarmEnv env_;
  std::string tracker_svc_address_;
  std::string coordinator_address_;
  std::vector<std::unique_ptr<process::Subprocess>> processes_;
  std::unique_ptr<process::Subprocess> coordinator_;
};

// Each worker is announced through a tracker_svc on its own host, so opentracker (which
// takes the announcer's address) lists it where seeders and leechers can reach it, and
// never at the coordinator's address.
TEST_F(AcrossHostsTest, WorkersOnTheirOwnHostsWithASharedFolderAreListedAtTheirAddresses) {
  ASSERT_NO_FATAL_FAILURE(StartSwarm(24 << 20, /*seeder_rate=*/3 << 20));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  const std::string w1 = StartWorker("w1", /*blind=*/false, /*own_tracker_svc=*/true);
  const std::string w2 = StartWorker("w2", /*blind=*/false, /*own_tracker_svc=*/true);
  ASSERT_FALSE(w1.empty());
  ASSERT_FALSE(w2.empty());
  std::unique_ptr<process::Subprocess> cli = StartCli();
  ASSERT_NE(cli, nullptr);

  // The workers are listed while the job runs (it leaves the swarm when it completes).
  std::vector<std::string> peers;
  auto listed = [&](const std::string& who) {
    return std::find(peers.begin(), peers.end(), who) != peers.end();
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!(listed(w1) && listed(w2)) && absl::Now() < deadline && cli->running()) {
    auto got = env_.TrackerPeers();
    ASSERT_TRUE(got.ok()) << got.status();
    peers.clear();
    for (const auto& [ip, port] : *got) peers.push_back(absl::StrCat(ip, ":", port));
    absl::SleepFor(absl::Milliseconds(50));  // polling the tracker: nothing to wait on
  }
  EXPECT_TRUE(listed(w1) && listed(w2))
      << w1 << " " << w2 << " not all in " << absl::StrJoin(peers, " ");
  for (const std::string& p : peers) {
    EXPECT_NE(p.rfind(hosts_["coord"]->ip() + ":", 0), 0u)
        << "listed at the coordinator's address: " << p;
  }
  std::string output;
  ASSERT_EQ(WaitForCli(*cli, &output), 0) << output;
  ASSERT_OK(env_.CheckDownload());
}

// No worker sees the output folder: each streams its verified pieces to the writer that
// swarm-cli starts beside the folder (which takes no peers itself), and the download is
// byte-exact.
TEST_F(AcrossHostsTest, WorkersThatCannotSeeTheFolderStreamTheirPiecesToIt) {
  ASSERT_NO_FATAL_FAILURE(StartSwarm((16 << 20) + 4321));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_FALSE(StartWorker("blind1", /*blind=*/true).empty());
  ASSERT_FALSE(StartWorker("blind2", /*blind=*/true).empty());
  std::string output;
  ASSERT_EQ(RunCli(&output), 0) << output;
  EXPECT_EQ(output.find("cannot take part"), std::string::npos) << output;
  ASSERT_OK(env_.CheckDownload());
}

// A mixed cluster: one worker writes into the shared folder, the other cannot see it and
// streams.
TEST_F(AcrossHostsTest, WorkersThatWriteAndWorkersThatStreamMix) {
  ASSERT_NO_FATAL_FAILURE(StartSwarm((16 << 20) + 4321));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_FALSE(StartWorker("seeing", /*blind=*/false).empty());
  ASSERT_FALSE(StartWorker("blind", /*blind=*/true).empty());
  std::string output;
  ASSERT_EQ(RunCli(&output), 0) << output;
  EXPECT_EQ(output.find("cannot take part"), std::string::npos) << output;
  ASSERT_OK(env_.CheckDownload());
}

// The coordinator is killed (SIGKILL) mid-download and started again with the same flags:
// it takes the job up from its state folder, the workers come back by themselves, the
// running CLI waits for it and re-attaches, and the download ends byte-exact, with what was
// verified before the kill found on disk (checked, not fetched again).
TEST_F(AcrossHostsTest, TheCoordinatorKilledMidDownloadComesBackAndTheJobGoesOn) {
  ASSERT_NO_FATAL_FAILURE(StartSwarm(24 << 20, /*seeder_rate=*/(3 << 20) / 2));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_FALSE(StartWorker("w1", /*blind=*/false).empty());
  ASSERT_FALSE(StartWorker("w2", /*blind=*/false).empty());
  std::unique_ptr<process::Subprocess> cli = StartCli();
  ASSERT_NE(cli, nullptr);

  // The CLI's plain progress lines start with the percentage verified.
  double seen = 0;
  while (seen < 15) {
    auto line = cli->ReadLineMatching("%", absl::Seconds(60));
    ASSERT_TRUE(line.ok()) << line.status() << cli->output();
    double percent = 0;
    if (absl::SimpleAtod(line->substr(0, line->find('%')), &percent)) seen = percent;
  }
  ASSERT_LT(seen, 90) << "too fast to test";
  coordinator_->Signal(SIGKILL);
  ASSERT_TRUE(coordinator_->Wait(absl::Seconds(10)).has_value());
  ASSERT_TRUE(cli->ReadLineMatching("waiting for it to come back", absl::Seconds(30)).ok())
      << cli->output();

  ASSERT_NO_FATAL_FAILURE(RunCoordinator(coordinator_address_));
  auto back = cli->ReadLineMatching("the coordinator is back", absl::Seconds(60));
  ASSERT_TRUE(back.ok()) << back.status() << cli->output();
  int verified = 0;
  int pieces = 0;
  ASSERT_EQ(
      std::sscanf(back->c_str(), "swarm: the coordinator is back: %d of %d", &verified, &pieces), 2)
      << *back;
  EXPECT_GE(verified * 100.0 / pieces, seen - 1) << "verified pieces were lost";

  std::string output;
  ASSERT_EQ(WaitForCli(*cli, &output), 0) << output;
  ASSERT_OK(env_.CheckDownload());
}

// A worker cut off from the network for 30 s (its link down: no reset, no goodbye) is
// dropped by the coordinator (missed heartbeats) with only its pieces in flight; the other
// carries on, and the cut-off worker comes back by itself and takes work again.
TEST_F(AcrossHostsTest, AWorkerCutOffFor30SecondsComesBackAndTakesWorkAgain) {
  ASSERT_NO_FATAL_FAILURE(StartSwarm(40 << 20, /*seeder_rate=*/(1 << 20) / 2));
  ASSERT_NO_FATAL_FAILURE(StartCoordinator());
  ASSERT_FALSE(StartWorker("w1", /*blind=*/false).empty());
  ASSERT_FALSE(StartWorker("w2", /*blind=*/false).empty());
  std::unique_ptr<process::Subprocess> cli = StartCli();
  ASSERT_NE(cli, nullptr);
  double percent = 0;
  // w1, w2 and the CLI's writer.
  ASSERT_OK(ReadProgressUntil(
      *cli, [](double p, int workers) { return p >= 5 && workers == 3; }, &percent,
      absl::Seconds(60)));
  ASSERT_OK(hosts_["w1"]->SetLinkUp(false));
  absl::Status seen = ReadProgressUntil(
      *cli, [](double, int workers) { return workers == 2; }, &percent, absl::Seconds(30));
  ASSERT_TRUE(seen.ok()) << "the cut-off worker was not dropped: " << seen;
  const double at_cut = percent;
  // The rest goes on meanwhile: watch it for the 30 s of the cut.
  seen = ReadProgressUntil(
      *cli, [](double, int) { return false; }, &percent, absl::Seconds(30));
  ASSERT_EQ(seen.code(), absl::StatusCode::kDeadlineExceeded) << "ended during the cut: " << seen;
  EXPECT_GT(percent, at_cut) << "nothing was fetched while w1 was away";
  ASSERT_LT(percent, 95) << "too fast to see w1 come back";
  ASSERT_OK(hosts_["w1"]->SetLinkUp(true));
  seen = ReadProgressUntil(
      *cli, [](double, int workers) { return workers == 3; }, &percent, absl::Seconds(60));
  ASSERT_TRUE(seen.ok()) << "the worker did not come back: " << seen;

  std::string output;
  ASSERT_EQ(WaitForCli(*cli, &output), 0) << output;
  ASSERT_OK(env_.CheckDownload());
}

}  // namespace
}  // namespace swarm::testing
