// Throughput of one in-process Worker downloading from one seeder over loopback, with the
// FakeCoordinator handing out leases. The seeder is a FakeSeeder (the worker's own ceiling),
// or with "aria2c" a real aria2c seeding on 127.0.0.2. With "external" no worker is started:
// the coordinator's address is printed for a peer_svc binary to connect to. Not a test; run by
// hand (arguments: MiB=256, piece KiB=256, output folder=/tmp, then aria2c or external):
//   bazel run //peer_svc/testing:worker_bench -- 256 256 /tmp aria2c
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "peer_svc/testing/fake_coordinator.h"
#include "peer_svc/testing/fake_seeder.h"
#include "peer_svc/testing/test_torrent.h"
#include "peer_svc/worker.h"
#include "process/ports.h"
#include "storage/content_files.h"

namespace {

constexpr uint16_t kAriaPort = 6899;

// Writes the content and the .torrent under `dir` and starts aria2c seeding them.
pid_t StartAria2c(const swarm::peer_svc::testing::TestTorrent& t, const std::string& dir) {
  mkdir((dir + "/seed").c_str(), 0755);
  std::ofstream(dir + "/seed/bench.bin", std::ios::binary) << t.content;
  std::ofstream(dir + "/bench.torrent", std::ios::binary) << t.torrent;
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string seed_dir = dir + "/seed";
    const std::string torrent = dir + "/bench.torrent";
    const std::string port = std::to_string(kAriaPort);
    execlp("aria2c", "aria2c", "--interface=127.0.0.2", ("--listen-port=" + port).c_str(), "-V",
           "--seed-ratio=0.0", "--seed-time=10", "--enable-dht=false", "--enable-dht6=false",
           "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--console-log-level=error",
           "--summary-interval=0", "-d", seed_dir.c_str(), torrent.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  swarm::process::WaitForTcpPort(kAriaPort, absl::Now() + absl::Seconds(30), "127.0.0.2")
      .IgnoreError();  // the bench then fails visibly if aria2c never listened
  return pid;
}

// CPU seconds (user + system) used so far by this process, or by `pid`.
double CpuSeconds(pid_t pid = 0) {
  if (pid == 0) {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  }
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string field;
  double ticks = 0;
  for (int i = 1; i <= 15 && in >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);  // utime, stime
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::atoi(argv[1]) : 256;
  const uint32_t piece_kib = argc > 2 ? std::atoi(argv[2]) : 256;
  const std::string dir = absl::StrCat(argc > 3 ? argv[3] : "/tmp", "/worker_bench.", getpid());
  mkdir(dir.c_str(), 0755);

  swarm::peer_svc::testing::TestTorrent t =
      swarm::peer_svc::testing::MakeTestTorrent("bench.bin", mib << 20, piece_kib * 1024);
  if (!swarm::storage::ContentFiles::Open(t.metainfo, dir, swarm::storage::ContentMode::kCreate)
           .ok())
    return 1;
  const bool aria2c = argc > 4 && std::string(argv[4]) == "aria2c";
  const bool external = argc > 4 && std::string(argv[4]) == "external";
  swarm::peer_svc::testing::FakeSeeder seeder(t, {});
  swarm::pb::PeerAddress addr;
  pid_t aria_pid = -1;
  if (aria2c) {
    aria_pid = StartAria2c(t, dir);
    addr.set_ip("127.0.0.2");
    addr.set_port(kAriaPort);
  } else {
    if (!seeder.Start().ok()) return 1;
    addr.set_ip(seeder.ip());
    addr.set_port(seeder.port());
  }
  swarm::peer_svc::testing::FakeCoordinator coordinator(t, dir, {addr});
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&coordinator);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();

  if (external) {
    std::cout << "coordinator listening on 127.0.0.1:" << port << std::endl;
    const bool ok = coordinator.WaitForAllDone(absl::Minutes(10));
    std::cout << (ok ? "all pieces done" : "TIMED OUT") << std::endl;
    // Give the worker a moment to see StopJob before the stream goes away.
    absl::SleepFor(absl::Seconds(1));
    server->Shutdown(std::chrono::system_clock::now());
    unlink(absl::StrCat(dir, "/bench.bin").c_str());
    rmdir(dir.c_str());
    return ok ? 0 : 1;
  }
  swarm::peer_svc::Worker::Options o;
  o.coordinator = absl::StrCat("127.0.0.1:", port);
  const double cpu_self = CpuSeconds();
  const double cpu_seeder = aria_pid > 0 ? CpuSeconds(aria_pid) : 0;
  const absl::Time start = absl::Now();
  auto worker = swarm::peer_svc::Worker::Start(o);
  if (!worker.ok()) {
    std::cerr << worker.status() << "\n";
    return 1;
  }
  const bool ok = coordinator.WaitForAllDone(absl::Minutes(10));
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::cout << (ok ? "done" : "TIMED OUT") << ": " << mib << " MiB in " << secs
            << " s = " << (mib * 1.048576) / secs << " MB/s (pieces of " << piece_kib
            << " KiB, from " << (aria2c ? "aria2c" : "the fake seeder") << ")\n"
            << "  CPU s: worker (and fake seeder, if any) " << CpuSeconds() - cpu_self
            << (aria2c ? absl::StrCat(", aria2c ", CpuSeconds(aria_pid) - cpu_seeder) : "") << "\n";
  {
    absl::MutexLock lock(&coordinator.mu);
    std::cout << "  RequestWork messages: " << coordinator.work_requests
              << ", heartbeats: " << coordinator.heartbeats.size() << "\n";
  }
  (*worker)->Shutdown();
  server->Shutdown(std::chrono::system_clock::now());
  if (aria_pid > 0) {
    kill(aria_pid, SIGTERM);
    waitpid(aria_pid, nullptr, 0);
    unlink(absl::StrCat(dir, "/seed/bench.bin").c_str());
    unlink(absl::StrCat(dir, "/bench.torrent").c_str());
    rmdir(absl::StrCat(dir, "/seed").c_str());
  }
  unlink(absl::StrCat(dir, "/bench.bin").c_str());
  rmdir(dir.c_str());
  return ok ? 0 : 1;
}
