// peer_svc: a peer worker. Registers with a coordinator, downloads the pieces it is leased
// from the swarm peers it is given, and uploads verified pieces to peers that connect to its
// listen port or that it dials, until SIGINT/SIGTERM or until its coordinator refuses it. A
// coordinator that is away (restarting, unreachable) is tried again and again, every 30 s at
// most, its jobs dropped meanwhile.
#include <signal.h>

#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "peer_svc/worker.h"
#include "process/main_flags.h"
#include "process/stop_signals.h"
#include "rpc/service_flags.h"

ABSL_FLAG(std::string, coordinator, "", "host:port of the coordinator (required)");
ABSL_FLAG(uint32_t, max_peers, 50, "most swarm peers to hold connections to at once");
ABSL_FLAG(std::string, bind_ip, "", "source address for peer connections (default: any)");
ABSL_FLAG(std::string, listen_ip, "",
          "address to accept peers on, registered with the coordinator, which announces it to "
          "trackers (default: --bind_ip if given, else this host's address toward the "
          "coordinator, loopback beside it; 0.0.0.0 binds every "
          "interface and lets the coordinator announce the address it sees this worker at)");
ABSL_FLAG(uint32_t, listen_port, 0, "TCP port to accept peers on (0: an ephemeral port)");
ABSL_FLAG(uint32_t, piece_memory_mib, 512,
          "MiB of piece buffers over all jobs (pieces being fetched or written); connections "
          "wait for memory beyond it");
ABSL_FLAG(uint32_t, upload_slots, 4,
          "peers uploaded to at once per job, besides the optimistic unchoke");
ABSL_FLAG(std::string, name, "", "name in the coordinator's logs (default: host:pid)");
ABSL_FLAG(std::string, tracker_svc, "",
          "host:port of a tracker_svc on this host to be announced through, so that trackers "
          "which take the announcer's address (opentracker) list this worker at its own");

int main(int argc, char** argv) {
  swarm::process::ParseMainFlags(
      argc, argv,
      "A peer worker: registers with a coordinator and fetches, verifies, writes and seeds the "
      "pieces it is given.\n\n"
      "  peer_svc --coordinator=HOST:PORT [--auth_token_file=F] [--listen_ip=IP] ...");

  // Blocked before any thread starts, so only the waiter below receives these signals.
  const sigset_t signals = swarm::process::BlockStopSignals();

  swarm::peer_svc::Worker::Options options;
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  absl::StatusOr<swarm::rpc::ServiceSecurity> security = swarm::rpc::ServiceSecurityFromFlags();
  if (!security.ok()) {
    std::cerr << "peer_svc: " << security.status().message() << "\n";
    return 2;
  }
  options.auth_token = security->auth_token;
  options.tls = security->tls;
  options.max_peers = absl::GetFlag(FLAGS_max_peers);
  options.bind_ip = absl::GetFlag(FLAGS_bind_ip);
  options.listen_ip = absl::GetFlag(FLAGS_listen_ip);
  if (absl::GetFlag(FLAGS_listen_port) > 65535) {
    std::cerr << "peer_svc: --listen_port must be at most 65535\n";
    return 1;
  }
  options.listen_port = static_cast<uint16_t>(absl::GetFlag(FLAGS_listen_port));
  options.job.choker.upload_slots = absl::GetFlag(FLAGS_upload_slots);
  options.piece_memory_bytes = size_t{absl::GetFlag(FLAGS_piece_memory_mib)} << 20;
  options.name = absl::GetFlag(FLAGS_name);
  options.tracker_svc = absl::GetFlag(FLAGS_tracker_svc);
  absl::StatusOr<std::unique_ptr<swarm::peer_svc::Worker>> worker =
      swarm::peer_svc::Worker::Start(options);
  if (!worker.ok()) {
    std::cerr << "peer_svc: " << worker.status() << "\n";
    return 1;
  }
  std::cout << "peer_svc registered as worker " << (*worker)->worker_id() << ", accepting peers on "
            << (*worker)->listen_ip() << " port " << (*worker)->listen_port() << std::endl;

  swarm::peer_svc::Worker* w = worker->get();
  std::thread signal_waiter([w, signals] {
    swarm::process::WaitForStopSignal(signals);
    w->Shutdown();
  });

  const absl::Status status = w->Wait();
  // Wakes the waiter if no signal came (the coordinator was lost), so it ends before `w`.
  pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  worker->reset();
  if (!status.ok()) {
    std::cerr << "peer_svc: " << status << "\n";
    return 1;
  }
  return 0;
}
