// End-to-end: `swarm-cli download` through tracker_svc, the coordinator and peer workers,
// against a real opentracker and real aria2c / transmission seeders on loopback. Every
// download is compared byte for byte with the original.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/testing/files.h"
#include "bt/bencode.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "process/subprocess.h"
#include "proto/coordinator.grpc.pb.h"
#include "rpc/auth_token.h"
#include "tests/e2e/swarm_env.h"

namespace swarm::testing {
namespace {

constexpr absl::Duration kDownloadTimeout = absl::Seconds(240);

const std::vector<std::pair<std::string, uint64_t>> kMultiFiles = {
    {"a.bin", 5 << 20}, {"empty.txt", 0}, {"sub/b.bin", (3 << 20) + 77}, {"sub/deeper/c.txt", 1000}};

// Runs swarm-cli with `args`; returns its exit status, with its output on failure.
int RunCli(const std::vector<std::string>& args, std::string* output = nullptr) {
  return RunSwarmCli(args, output, kDownloadTimeout);
}

std::vector<std::string> DownloadArgs(const SwarmEnv& env, int workers) {
  return {"download",
          env.torrent_path(),
          "-o",
          env.download_dir(),
          absl::StrCat("--workers=", workers),
          "--state-dir=" + env.root() + "/state"};
}

TEST(DownloadTest, SingleFileFromAria2WithOneWorker) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"single.bin", (24 << 20) + 12345}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2));
  ASSERT_OK(env.WaitForSeeders());
  std::string output;
  ASSERT_EQ(RunCli(DownloadArgs(env, 1), &output), 0) << output;
  ASSERT_OK(env.CheckDownload());
}

TEST(DownloadTest, MultiFileFromTransmissionWithThreeWorkers) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload(kMultiFiles, /*multi_file=*/true));
  ASSERT_OK(env.MakeTorrentAndTracker(/*piece_length_log2=*/16));
  ASSERT_OK(env.AddSeeder(SeederKind::kTransmission));
  ASSERT_OK(env.WaitForSeeders());
  std::string output;
  ASSERT_EQ(RunCli(DownloadArgs(env, 3), &output), 0) << output;
  ASSERT_OK(env.CheckDownload());
}

TEST(DownloadTest, MultiFileFromAria2AndTransmissionWithOneWorker) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload(kMultiFiles, /*multi_file=*/true));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2));
  ASSERT_OK(env.AddSeeder(SeederKind::kTransmission));
  ASSERT_OK(env.WaitForSeeders());
  std::string output;
  ASSERT_EQ(RunCli(DownloadArgs(env, 1), &output), 0) << output;
  ASSERT_OK(env.CheckDownload());
}

TEST(DownloadTest, SingleFileFromAria2AndTransmissionWithThreeWorkers) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"single.bin", 16 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2));
  ASSERT_OK(env.AddSeeder(SeederKind::kTransmission));
  ASSERT_OK(env.WaitForSeeders());
  std::string output;
  ASSERT_EQ(RunCli(DownloadArgs(env, 3), &output), 0) << output;
  ASSERT_OK(env.CheckDownload());
}

TEST(DownloadTest, RefusesHostileTorrentWithExitStatus2) {
  SwarmEnv env;
  const std::string path = env.root() + "/evil.torrent";
  bt::BValue::Dict file;
  file["length"] = 5;
  file["path"] = bt::BValue::List{bt::BValue(".."), bt::BValue("escape")};
  bt::BValue::Dict info;
  info["files"] = bt::BValue::List{bt::BValue(file)};
  info["name"] = "x";
  info["piece length"] = 16384;
  info["pieces"] = std::string(20, 'a');
  bt::BValue::Dict torrent;
  torrent["info"] = info;
  std::ofstream(path) << bt::Encode(bt::BValue(torrent));
  std::string output;
  EXPECT_EQ(RunCli({"download", path, "-o", env.download_dir()}, &output), 2) << output;
  EXPECT_NE(output.find("escape the output folder"), std::string::npos) << output;
}

// Parses the percentage at the start of a plain progress line ("  42.0%  ...").
std::optional<double> PercentOf(const std::string& line) {
  absl::string_view s = absl::StripLeadingAsciiWhitespace(line);
  const size_t pct = s.find('%');
  double value;
  if (pct == absl::string_view::npos || !absl::SimpleAtod(s.substr(0, pct), &value)) {
    return std::nullopt;
  }
  return value;
}

TEST(DownloadTest, InterruptedDownloadResumes) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"resume.bin", 32 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  // Slow enough that the first run is still going when it is interrupted.
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2, /*max_upload_bytes_per_s=*/3 << 20));
  ASSERT_OK(env.WaitForSeeders());

  process::SubprocessOptions options;
  options.stderr_to_stdout = true;
  std::vector<std::string> argv = {SwarmEnv::SwarmCli()};
  for (const std::string& a : DownloadArgs(env, 2)) argv.push_back(a);
  auto cli = process::Subprocess::Start(argv, options);
  ASSERT_TRUE(cli.ok());
  while (true) {
    auto line = (*cli)->ReadLineMatching("MB/s", kDownloadTimeout);
    ASSERT_TRUE(line.ok()) << line.status() << (*cli)->output();
    std::optional<double> percent = PercentOf(*line);
    if (percent && *percent >= 15) {
      ASSERT_LT(*percent, 90) << "the download was not slowed down";
      break;
    }
  }
  (*cli)->Signal(SIGINT);
  std::optional<int> status = (*cli)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << "swarm-cli did not stop after SIGINT";
  (*cli)->ReadLineMatching("\x01never\x01", absl::Seconds(1)).IgnoreError();
  ASSERT_TRUE(WIFEXITED(*status)) << (*cli)->output();
  EXPECT_EQ(WEXITSTATUS(*status), 130) << (*cli)->output();
  EXPECT_NE((*cli)->output().find("run the same command again to resume"), std::string::npos);

  // The first run left its resume record: trusted (the files are as it left them), so
  // nothing is read back, and only the rest is fetched.
  std::string output;
  std::vector<std::string> again = DownloadArgs(env, 2);
  again.push_back("--verbose");
  ASSERT_EQ(RunCli(again, &output), 0) << output;
  EXPECT_NE(output.find("already verified"), std::string::npos) << output;
  EXPECT_NE(output.find("resume record matches the files"), std::string::npos) << output;
  EXPECT_EQ(output.find("the workers check"), std::string::npos) << output;
  ASSERT_OK(env.CheckDownload());
}

// Data that changed after the record was made is checked by the workers, never trusted: a
// corrupted piece is found and fetched again; --recheck checks everything.
TEST(DownloadTest, ChangedDataIsCheckedByTheWorkers) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"changed.bin", 8 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2));
  ASSERT_OK(env.WaitForSeeders());
  std::vector<std::string> args = DownloadArgs(env, 2);
  args.push_back("--verbose");
  std::string output;
  ASSERT_EQ(RunCli(args, &output), 0) << output;
  ASSERT_OK(env.CheckDownload());

  // Done, and nothing changed: the record says so, without a read.
  ASSERT_EQ(RunCli(args, &output), 0) << output;
  EXPECT_NE(output.find("resume record matches the files: 32 of 32 pieces"), std::string::npos)
      << output;

  // A few bytes in piece 5 (of 256 KiB pieces) overwritten by someone else.
  {
    std::fstream f(env.download_dir() + "/changed.bin",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5 * (256 << 10) + 1000);
    f.write("garbage", 7);
  }
  ASSERT_EQ(RunCli(args, &output), 0) << output;
  EXPECT_NE(output.find("the workers check 32 pieces"), std::string::npos) << output;
  EXPECT_NE(output.find("31 of 32 pieces verified, 1 to fetch"), std::string::npos) << output;
  ASSERT_OK(env.CheckDownload());

  args.push_back("--recheck");
  ASSERT_EQ(RunCli(args, &output), 0) << output;
  EXPECT_NE(output.find("the workers check 32 pieces"), std::string::npos) << output;
  EXPECT_NE(output.find("32 of 32 pieces verified, 0 to fetch"), std::string::npos) << output;
  ASSERT_OK(env.CheckDownload());
}

// A file at the torrent's path that no run of this download made: with holes where the
// torrent's data is missing (another client's preallocated partial download) it is filled
// in; holding other data, it is someone else's and left alone unless --overwrite is given.
TEST(DownloadTest, AFileItDidNotMakeIsFilledInButNeverOverwrittenUnasked) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"found.bin", 4 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2));
  ASSERT_OK(env.WaitForSeeders());
  const std::string path = env.download_dir() + "/found.bin";
  const std::string original = ReadWholeFile(env.seed_dir() + "/found.bin");
  ASSERT_EQ(original.size(), size_t{4} << 20);
  std::string half = original.substr(0, 2 << 20) + std::string(2 << 20, '\0');
  ASSERT_TRUE(WriteWholeFile(path, half));
  std::vector<std::string> args = DownloadArgs(env, 2);
  args.push_back("--verbose");
  std::string output;
  ASSERT_EQ(RunCli(args, &output), 0) << output;
  EXPECT_NE(output.find("8 of 16 pieces verified, 8 to fetch"), std::string::npos) << output;
  ASSERT_OK(env.CheckDownload());

  // Someone else's file of the same length, and a fresh state folder (no record names it).
  const std::string theirs(4 << 20, 'x');
  ASSERT_TRUE(WriteWholeFile(path, theirs));
  args = DownloadArgs(env, 2);
  args.back() += "-fresh";
  ASSERT_EQ(RunCli(args, &output), 1) << output;
  EXPECT_NE(output.find("found.bin already exists and holds other data than the torrent's"),
            std::string::npos)
      << output;
  EXPECT_EQ(ReadWholeFile(path), theirs);
  args.push_back("--overwrite");
  ASSERT_EQ(RunCli(args, &output), 0) << output;
  ASSERT_OK(env.CheckDownload());
}

// A cluster started by hand, as across machines: tracker_svc, a coordinator and two workers,
// with swarm-cli submitting to it. One worker is killed (SIGKILL) mid-download; its leases and
// its peer go to the other, and the download still completes byte-exact.
TEST(DownloadTest, SurvivesAWorkerKilledMidDownload) {
  SwarmEnv env;
  ASSERT_OK(env.MakePayload({{"kill.bin", 24 << 20}}, /*multi_file=*/false));
  ASSERT_OK(env.MakeTorrentAndTracker());
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2, /*max_upload_bytes_per_s=*/2 << 20));
  ASSERT_OK(env.AddSeeder(SeederKind::kAria2, /*max_upload_bytes_per_s=*/2 << 20));
  ASSERT_OK(env.WaitForSeeders());
  // The token in a file only we can read, as a user would set it up across machines.
  const std::string token_file = env.root() + "/token";
  {
    std::ofstream(token_file) << "t0k\n";
    ASSERT_EQ(chmod(token_file.c_str(), 0600), 0);
  }

  auto tracker_svc =
      process::Subprocess::Start({"tracker_svc/tracker_svc", "--listen=127.0.0.1:0"});
  ASSERT_TRUE(tracker_svc.ok());
  auto line = (*tracker_svc)->ReadLineMatching("listening on", absl::Seconds(20));
  ASSERT_TRUE(line.ok()) << line.status();
  const std::string tracker_address = line->substr(line->rfind(' ') + 1);
  auto coordinator = process::Subprocess::Start({"coordinator/coordinator", "--listen=127.0.0.1:0",
                                                 "--tracker_svc=" + tracker_address,
                                                 "--auth_token_file=" + token_file});
  ASSERT_TRUE(coordinator.ok());
  line = (*coordinator)->ReadLineMatching("listening on", absl::Seconds(20));
  ASSERT_TRUE(line.ok()) << line.status();
  const std::string address = line->substr(line->rfind(' ') + 1);
  std::vector<std::unique_ptr<process::Subprocess>> workers;
  for (int i = 0; i < 2; ++i) {
    auto worker = process::Subprocess::Start({"peer_svc/peer_svc", "--coordinator=" + address,
                                              "--auth_token_file=" + token_file,
                                              absl::StrCat("--name=w", i)});
    ASSERT_TRUE(worker.ok());
    ASSERT_TRUE((*worker)->ReadLineMatching("registered as worker", absl::Seconds(20)).ok());
    (*worker)->DrainStdout();
    workers.push_back(*std::move(worker));
  }

  process::SubprocessOptions options;
  options.stderr_to_stdout = true;
  auto cli = process::Subprocess::Start(
      {SwarmEnv::SwarmCli(), "download", env.torrent_path(), "-o", env.download_dir(),
       "--coordinator=" + address, "--auth-token-file", token_file},
      options);
  ASSERT_TRUE(cli.ok());

  // Watch the job from the coordinator itself and kill a worker once a fifth is verified.
  auto stub =
      pb::Coordinator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  pb::WatchJobRequest watch;
  watch.set_job_id(env.info_hash_hex());
  std::unique_ptr<grpc::ClientReader<pb::JobProgress>> stream;
  pb::JobProgress progress;
  // The CLI submits the job shortly; until then WatchJob has nothing to watch.
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    rpc::AttachAuthToken("t0k", ctx.get());
    stream = stub->WatchJob(ctx.get(), watch);
    bool killed = false;
    while (stream->Read(&progress)) {
      if (progress.num_pieces() > 0 && progress.verified_pieces() * 5 >= progress.num_pieces()) {
        ASSERT_LT(progress.verified_pieces(), progress.num_pieces()) << "too fast to test";
        workers[0]->Signal(SIGKILL);
        killed = true;
        break;
      }
    }
    ctx->TryCancel();
    stream->Finish();
    if (killed) break;
    ASSERT_TRUE((*cli)->running()) << (*cli)->output();
    absl::SleepFor(absl::Milliseconds(50));  // the job is not submitted yet: poll again
  }
  ASSERT_TRUE(workers[0]->Wait(absl::Seconds(10)).has_value()) << "worker 0 was not killed";

  (*cli)->ReadLineMatching("\x01never\x01", kDownloadTimeout).IgnoreError();
  std::optional<int> status = (*cli)->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << (*cli)->output();
  ASSERT_OK(env.CheckDownload());
}

}  // namespace
}  // namespace swarm::testing
