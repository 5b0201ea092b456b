// Upload throughput: one in-process Worker seeding (every piece verified, the data on disk)
// over loopback, with a FakeCoordinator of its own, to one downloader:
//  - "worker" (the default): another in-process Worker, which dials the seeder's listen port
//    (so this measures our upload path against our own download path);
//  - "aria2c" or "transmission": a real client downloading on 127.0.0.4, which the seeding
//    worker dials (the coordinator gives it the client's address), as transmission needs.
// Not a test; run by hand (arguments: MiB=256, piece KiB=256, folder=/tmp, downloader):
//   bazel run //peer_svc/testing:upload_bench -- 256 256 /tmp aria2c
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "peer_svc/testing/fake_coordinator.h"
#include "peer_svc/testing/test_torrent.h"
#include "peer_svc/worker.h"
#include "process/ports.h"
#include "storage/content_files.h"

namespace {

constexpr char kClientIp[] = "127.0.0.4";
constexpr uint16_t kClientPort = 6897;

// Starts `client` downloading `torrent` into `dir`, listening on kClientIp:kClientPort; it
// learns of no peer by itself (the torrent's tracker is dead): the seeding worker dials it.
// `done_file` appears when it has everything.
pid_t StartClient(const std::string& client, const std::string& torrent, const std::string& dir,
                  const std::string& done_file) {
  const std::string port = std::to_string(kClientPort);
  const std::string script = dir + "/../done.sh";
  std::ofstream(script) << "#!/bin/sh\ntouch " << done_file << "\n";
  chmod(script.c_str(), 0755);
  const pid_t pid = fork();
  if (pid != 0) {
    swarm::process::WaitForTcpPort(kClientPort, absl::Now() + absl::Seconds(30), kClientIp)
        .IgnoreError();  // the bench then fails visibly if the client never listened
    return pid;
  }
  if (client == "aria2c") {
    execlp("aria2c", "aria2c", (std::string("--interface=") + kClientIp).c_str(),
           ("--listen-port=" + port).c_str(), "--seed-time=0", "--enable-dht=false",
           "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
           "--file-allocation=falloc", "--console-log-level=error", "--summary-interval=0",
           ("--on-bt-download-complete=" + script).c_str(), "-d", dir.c_str(), torrent.c_str(),
           static_cast<char*>(nullptr));
  } else {
    const std::string config = dir + "/../transmission";
    mkdir(config.c_str(), 0755);
    std::ofstream(config + "/settings.json")
        << "{\"bind-address-ipv4\": \"" << kClientIp
        << "\", \"dht-enabled\": false, \"lpd-enabled\": false, \"pex-enabled\": false, "
           "\"utp-enabled\": false, \"port-forwarding-enabled\": false}\n";
    execlp("transmission-cli", "transmission-cli", "-g", config.c_str(), "-p", port.c_str(), "-M",
           "-w", dir.c_str(), "-f", script.c_str(), torrent.c_str(), static_cast<char*>(nullptr));
  }
  _exit(127);
}

double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::unique_ptr<grpc::Server> Serve(swarm::peer_svc::testing::FakeCoordinator* c, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(c);
  return builder.BuildAndStart();
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::atoi(argv[1]) : 256;
  const uint32_t piece_kib = argc > 2 ? std::atoi(argv[2]) : 256;
  const std::string dir = absl::StrCat(argc > 3 ? argv[3] : "/tmp", "/upload_bench.", getpid());
  const std::string seed_dir = dir + "/seed";
  const std::string leech_dir = dir + "/leech";
  const std::string client = argc > 4 ? argv[4] : "worker";
  mkdir(dir.c_str(), 0755);
  mkdir(seed_dir.c_str(), 0755);
  mkdir(leech_dir.c_str(), 0755);

  swarm::peer_svc::testing::TestTorrent t =
      swarm::peer_svc::testing::MakeTestTorrent("bench.bin", mib << 20, piece_kib * 1024);
  std::ofstream(seed_dir + "/bench.bin", std::ios::binary) << t.content;
  if (!swarm::storage::ContentFiles::Open(t.metainfo, leech_dir,
                                          swarm::storage::ContentMode::kCreate)
           .ok())
    return 1;

  // A real client downloads into leech_dir; the seeder's coordinator gives it as a peer.
  pid_t client_pid = -1;
  std::vector<swarm::pb::PeerAddress> client_peers;
  const std::string done_file = dir + "/client_done";
  if (client != "worker") {
    std::ofstream(dir + "/bench.torrent", std::ios::binary) << t.torrent;
    unlink((leech_dir + "/bench.bin").c_str());  // the client makes its own
    client_pid = StartClient(client, dir + "/bench.torrent", leech_dir, done_file);
    swarm::pb::PeerAddress& a = client_peers.emplace_back();
    a.set_ip(kClientIp);
    a.set_port(kClientPort);
  }

  // The seeder's coordinator: everything verified; a real client as its one peer, or none
  // (our own leecher dials in).
  swarm::peer_svc::testing::FakeCoordinator seed_coord(t, seed_dir, client_peers);
  {
    // Spare bits past the last piece must be zero.
    std::string bits((t.metainfo.num_pieces() + 7) / 8, '\xff');
    const uint32_t spare = static_cast<uint32_t>(bits.size() * 8 - t.metainfo.num_pieces());
    bits.back() = static_cast<char>(0xff << spare);
    seed_coord.SetVerified(bits);
  }
  int seed_port = 0;
  auto seed_server = Serve(&seed_coord, &seed_port);
  swarm::peer_svc::Worker::Options so;
  so.coordinator = absl::StrCat("127.0.0.1:", seed_port);
  so.bind_ip = "127.0.0.2";  // and so the listen address
  so.verbose = false;
  const double cpu_start = CpuSeconds();
  const absl::Time client_start = absl::Now();
  auto seeder = swarm::peer_svc::Worker::Start(so);
  if (!seeder.ok()) {
    std::cerr << seeder.status() << "\n";
    return 1;
  }
  if (client_pid > 0) {
    // The worker dials the client at its first RequestWork; wait for the client to finish.
    bool done = false;
    for (int i = 0; i < 6000 && !done; ++i) {
      done = access(done_file.c_str(), F_OK) == 0;
      if (!done) usleep(100 * 1000);
      if (i % 10 == 9) {
        absl::MutexLock lock(&seed_coord.mu);
        if (!seed_coord.heartbeats.empty()) {
          std::cout << "  " << (i + 1) / 10 << " s: uploaded "
                    << seed_coord.heartbeats.back().uploaded_bytes() / 1e6 << " MB" << std::endl;
        }
      }
    }
    const double secs = absl::ToDoubleSeconds(absl::Now() - client_start);
    std::cout << (done ? "done" : "TIMED OUT") << ": " << mib << " MiB in " << secs
              << " s = " << (mib * 1.048576) / secs << " MB/s (pieces of " << piece_kib
              << " KiB, worker to " << client << ")\n"
              << "  CPU s, seeding worker: " << CpuSeconds() - cpu_start << "\n";
    kill(client_pid, SIGTERM);
    waitpid(client_pid, nullptr, 0);
    std::ifstream in(leech_dir + "/bench.bin", std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::cout << "  downloaded file " << (got == t.content ? "matches" : "DIFFERS") << "\n";
    {
      absl::MutexLock lock(&seed_coord.mu);
      for (const auto& c : seed_coord.closed) std::cout << "  closed: " << c.reason() << "\n";
    }
    (*seeder)->Shutdown();
    seed_server->Shutdown(std::chrono::system_clock::now());
    std::cout << "  (files left in " << dir << ")\n";
    return done && got == t.content ? 0 : 1;
  }
  seed_coord.WaitUntil([](swarm::peer_svc::testing::FakeCoordinator& c)
                           ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return c.work_requests > 0; },
                       absl::Seconds(30));

  swarm::pb::PeerAddress addr;
  addr.set_ip((*seeder)->listen_ip());
  addr.set_port((*seeder)->listen_port());
  swarm::peer_svc::testing::FakeCoordinator leech_coord(t, leech_dir, {addr});
  int leech_port = 0;
  auto leech_server = Serve(&leech_coord, &leech_port);
  swarm::peer_svc::Worker::Options lo;
  lo.coordinator = absl::StrCat("127.0.0.1:", leech_port);
  lo.bind_ip = "127.0.0.3";
  lo.verbose = false;

  const double cpu = CpuSeconds();
  const absl::Time start = absl::Now();
  auto leecher = swarm::peer_svc::Worker::Start(lo);
  if (!leecher.ok()) {
    std::cerr << leecher.status() << "\n";
    return 1;
  }
  const bool ok = leech_coord.WaitForAllDone(absl::Minutes(10));
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::cout << (ok ? "done" : "TIMED OUT") << ": " << mib << " MiB in " << secs
            << " s = " << (mib * 1.048576) / secs << " MB/s (pieces of " << piece_kib
            << " KiB, worker to worker)\n"
            << "  CPU s, both workers: " << CpuSeconds() - cpu << "\n";
  // Wait for the seeder's next heartbeat, which carries the bytes it sent.
  seed_coord.WaitUntil(
      [&](swarm::peer_svc::testing::FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
        return !c.heartbeats.empty() && c.heartbeats.back().uploaded_bytes() >= t.content.size();
      },
      absl::Seconds(5));
  {
    absl::MutexLock lock(&seed_coord.mu);
    if (!seed_coord.heartbeats.empty()) {
      std::cout << "  seeder's heartbeat: uploaded "
                << seed_coord.heartbeats.back().uploaded_bytes() << " bytes\n";
    }
  }
  const bool same = [&] {
    std::ifstream in(leech_dir + "/bench.bin", std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return got == t.content;
  }();
  std::cout << "  downloaded file " << (same ? "matches" : "DIFFERS") << "\n";
  (*leecher)->Shutdown();
  (*seeder)->Shutdown();
  leech_server->Shutdown(std::chrono::system_clock::now());
  seed_server->Shutdown(std::chrono::system_clock::now());
  unlink((seed_dir + "/bench.bin").c_str());
  unlink((leech_dir + "/bench.bin").c_str());
  rmdir(seed_dir.c_str());
  rmdir(leech_dir.c_str());
  rmdir(dir.c_str());
  return ok && same ? 0 : 1;
}
