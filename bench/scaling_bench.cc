// Scaling across hosts, run by hand as root (network namespaces):
//
//   bazel run -c opt //bench:scaling_bench -- --workers=1,2,4 --cap_mbit=100
//
// Each run builds hosts on one machine (NetLab): opentracker, two aria2c seeders (uncapped),
// the coordinator's host (tracker_svc, coordinator, swarm-cli), and one host per worker,
// capped at --cap_mbit both ways. "shared": the workers see the output folder and write their
// pieces; "streaming": they do not, and stream them to the writer swarm-cli starts beside the
// folder. Two seeders only, so with 4 workers there are fewer peers than workers. The
// download is --mib_per_worker MiB per worker, checked byte for byte. One line per run: the
// rate (swarm-cli's own figure, submit to complete), its ratio to N x cap, and the CPU per GB
// of the coordinator and of the workers (user + system, from /proc, from the CLI's start to
// the job's end: the processes' own start-up is left out).
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "process/subprocess.h"
#include "rpc/token_source.h"
#include "tests/e2e/swarm_env.h"
#include "tests/testing/net_lab.h"

ABSL_FLAG(std::string, workers, "1,2,4", "worker counts to run, comma-separated");
ABSL_FLAG(std::string, modes, "shared,streaming", "shared, streaming, or both");
ABSL_FLAG(int, cap_mbit, 100, "each worker host's cap, both ways, in Mbit/s");
ABSL_FLAG(int, mib_per_worker, 96, "MiB to download per worker");
ABSL_FLAG(int, rounds, 1, "runs of each configuration");

namespace swarm::bench {
namespace {

using testing::NetHost;
using testing::NetLab;
using testing::SeederKind;
using testing::SwarmEnv;
using testing::TorrentMaker;

constexpr char kToken[] = "scaling-bench";

// User + system CPU seconds of a live process.
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  // After "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based).
  double utime = 0;
  double stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) ||
      !absl::SimpleAtod(fields[12], &stime)) {
    return 0;
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

absl::StatusOr<std::string> ListenedAddress(process::Subprocess& p) {
  absl::StatusOr<std::string> line = p.ReadLineMatching("listening on", absl::Seconds(20));
  if (!line.ok()) return line.status();
  p.DrainStdout();
  return line->substr(line->rfind(' ') + 1);
}

struct Result {
  double mb_per_s = 0;
  double coordinator_cpu_per_gb = 0;
  double worker_cpu_per_gb = 0;
};

absl::StatusOr<Result> RunOnce(int workers, bool streaming) {
  SwarmEnv env;
  absl::StatusOr<std::unique_ptr<NetLab>> made = NetLab::Create();
  if (!made.ok()) return made.status();
  NetLab& lab = **made;
  std::map<std::string, NetHost*> hosts;
  for (const char* name : {"tracker", "seed1", "seed2", "coord"}) {
    absl::StatusOr<NetHost*> host = lab.AddHost(name);
    if (!host.ok()) return host.status();
    hosts[name] = *host;
  }
  const uint64_t bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_mib_per_worker)) * workers << 20;
  if (absl::Status s = env.MakePayload({{"scaling.bin", bytes}}, false); !s.ok()) return s;
  if (absl::Status s = env.MakeTorrentAndTracker(20, TorrentMaker::kMktorrent, hosts["tracker"]);
      !s.ok()) {
    return s;
  }
  for (const char* seed : {"seed1", "seed2"}) {
    if (absl::Status s = env.AddSeeder(SeederKind::kAria2, 0, hosts[seed]); !s.ok()) return s;
  }
  if (absl::Status s = env.WaitForSeeders(); !s.ok()) return s;

  NetHost* coord = hosts["coord"];
  std::vector<std::unique_ptr<process::Subprocess>> processes;
  absl::StatusOr<std::unique_ptr<process::Subprocess>> tracker_svc =
      coord->Start({"tracker_svc/tracker_svc", "--listen=" + coord->ip() + ":0"}, {});
  if (!tracker_svc.ok()) return tracker_svc.status();
  absl::StatusOr<std::string> tracker_address = ListenedAddress(**tracker_svc);
  if (!tracker_address.ok()) return tracker_address.status();
  processes.push_back(*std::move(tracker_svc));
  absl::StatusOr<std::unique_ptr<process::Subprocess>> coordinator =
      coord->Start({"coordinator/coordinator", "--listen=" + coord->ip() + ":0",
                    "--tracker_svc=" + *tracker_address},
                   {.quiet_stderr = true});
  if (!coordinator.ok()) return coordinator.status();
  absl::StatusOr<std::string> address = ListenedAddress(**coordinator);
  if (!address.ok()) return address.status();
  const pid_t coordinator_pid = (*coordinator)->pid();
  processes.push_back(*std::move(coordinator));

  const uint64_t cap = static_cast<uint64_t>(absl::GetFlag(FLAGS_cap_mbit)) * 1'000'000;
  std::vector<pid_t> worker_pids;
  for (int i = 0; i < workers; ++i) {
    absl::StatusOr<NetHost*> host = lab.AddHost(absl::StrCat("w", i), {.rate_bits_per_s = cap});
    if (!host.ok()) return host.status();
    std::vector<std::string> hidden;
    if (streaming) hidden.push_back(env.root());
    absl::StatusOr<std::unique_ptr<process::Subprocess>> worker = (*host)->Start(
        {"peer_svc/peer_svc", "--coordinator=" + *address, absl::StrCat("--name=w", i)},
        {.quiet_stderr = true}, hidden);
    if (!worker.ok()) return worker.status();
    absl::StatusOr<std::string> line =
        (*worker)->ReadLineMatching("registered as worker", absl::Seconds(20));
    if (!line.ok()) return line.status();
    (*worker)->DrainStdout();
    worker_pids.push_back((*worker)->pid());
    processes.push_back(*std::move(worker));
  }

  // CPU from here on: the job's, not the processes' start-up.
  const double coordinator_cpu_before = CpuSeconds(coordinator_pid);
  double workers_cpu_before = 0;
  for (pid_t pid : worker_pids) workers_cpu_before += CpuSeconds(pid);
  absl::StatusOr<std::unique_ptr<process::Subprocess>> cli =
      coord->Start({SwarmEnv::SwarmCli(), "download", env.torrent_path(), "-o", env.download_dir(),
                    "--coordinator=" + *address},
                   {.stderr_to_stdout = true});
  if (!cli.ok()) return cli.status();
  absl::StatusOr<std::string> done = (*cli)->ReadLineMatching("complete:", absl::Minutes(10));
  if (!done.ok()) {
    return absl::InternalError(absl::StrCat("no completion: ", (*cli)->output()));
  }
  (*cli)->Wait(absl::Seconds(30));
  if (absl::Status s = env.CheckDownload(); !s.ok()) return s;

  Result r;
  const size_t open = done->rfind('(');
  if (open == std::string::npos ||
      !absl::SimpleAtod(done->substr(open + 1, done->find(' ', open) - open - 1), &r.mb_per_s)) {
    return absl::InternalError(absl::StrCat("cannot read the rate in: ", *done));
  }
  const double gb = static_cast<double>(bytes) / 1e9;
  r.coordinator_cpu_per_gb = (CpuSeconds(coordinator_pid) - coordinator_cpu_before) / gb;
  double worker_cpu = -workers_cpu_before;
  for (pid_t pid : worker_pids) worker_cpu += CpuSeconds(pid);
  r.worker_cpu_per_gb = worker_cpu / gb;
  return r;
}

int Main() {
  std::vector<int> counts;
  for (absl::string_view n : absl::StrSplit(absl::GetFlag(FLAGS_workers), ',')) {
    int count = 0;
    if (absl::SimpleAtoi(n, &count) && count > 0) counts.push_back(count);
  }
  const std::vector<std::string> modes = absl::StrSplit(absl::GetFlag(FLAGS_modes), ',');
  const double cap_mb = absl::GetFlag(FLAGS_cap_mbit) / 8.0;
  std::printf("%-10s %7s %9s %12s %16s %16s %10s\n", "mode", "workers", "MB/s", "/(N x cap)",
              "coord CPU s/GB", "worker CPU s/GB", "coord/wkr");
  for (const std::string& mode : modes) {
    for (int n : counts) {
      for (int round = 0; round < absl::GetFlag(FLAGS_rounds); ++round) {
        absl::StatusOr<Result> r = RunOnce(n, mode == "streaming");
        if (!r.ok()) {
          std::fprintf(stderr, "%s with %d workers: %s\n", mode.c_str(), n,
                       r.status().ToString().c_str());
          return 1;
        }
        std::printf("%-10s %7d %9.1f %12.2f %16.3f %16.3f %9.1f%%\n", mode.c_str(), n, r->mb_per_s,
                    r->mb_per_s / (n * cap_mb), r->coordinator_cpu_per_gb, r->worker_cpu_per_gb / n,
                    100 * r->coordinator_cpu_per_gb / (r->worker_cpu_per_gb / n));
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace swarm::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Every service listens beyond loopback, so each needs the token; they inherit it.
  setenv(swarm::rpc::kAuthTokenEnv, swarm::bench::kToken, 1);
  return swarm::bench::Main();
}
