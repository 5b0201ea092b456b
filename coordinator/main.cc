// coordinator: serves the Coordinator service (proto/coordinator.proto) until SIGINT or
// SIGTERM, then cancels its jobs (a "stopped" announce goes out) and exits.
//
//   SWARM_AUTH_TOKEN=... coordinator --listen=127.0.0.1:0 --tracker_svc=127.0.0.1:7001
//   -> coordinator listening on 127.0.0.1:41235      (the one line on stdout)
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/flags/flag.h"
#include "coordinator/coordinator_server.h"
#include "process/main_flags.h"
#include "process/stop_signals.h"
#include "rpc/service_flags.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port (port 0 picks a free one) or unix:/path to serve gRPC on; printed on stdout");
ABSL_FLAG(std::string, tracker_svc, "",
          "tracker_svc host:port to announce through; empty: no announces");
ABSL_FLAG(std::string, output_root, "",
          "jobs may write only into this folder and below it (symlinks resolved); empty: "
          "anywhere this user may write. Set it whenever others can reach the coordinator");
ABSL_FLAG(std::string, state_dir, "",
          "folder for the jobs' resume records (created if missing); empty: none, and a job "
          "on existing data has its workers check all of it");
ABSL_FLAG(bool, keep_jobs, true,
          "with --state_dir: save each job there and take the saved jobs up again at start, "
          "so that a coordinator killed mid-download carries on when started again");

int main(int argc, char** argv) {
  swarm::process::ParseMainFlags(argc, argv,
                                 "Coordinates swarm downloads across peer workers over gRPC.");

  const sigset_t stop_signals = swarm::process::BlockStopSignals();

  const std::string listen = absl::GetFlag(FLAGS_listen);
  if (!swarm::process::IsListenAddress(listen)) {
    std::fprintf(stderr, "coordinator: --listen must be host:port or unix:/path, got \"%s\"\n",
                 listen.c_str());
    return 2;
  }
  swarm::coordinator::CoordinatorServer::Options options;
  options.listen_address = listen;
  options.tracker_address = absl::GetFlag(FLAGS_tracker_svc);
  absl::StatusOr<swarm::rpc::ServiceSecurity> security = swarm::rpc::ServiceSecurityFromFlags();
  if (!security.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", std::string(security.status().message()).c_str());
    return 2;
  }
  options.auth_token = security->auth_token;
  options.tls = security->tls;
  options.state_dir = absl::GetFlag(FLAGS_state_dir);
  options.output_root = absl::GetFlag(FLAGS_output_root);
  options.keep_jobs = absl::GetFlag(FLAGS_keep_jobs);
  auto server = swarm::coordinator::CoordinatorServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "coordinator: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("coordinator listening on %s\n",
              swarm::process::BoundAddress(listen, (*server)->port()).c_str());
  std::fflush(stdout);

  const int signal_number = swarm::process::WaitForStopSignal(stop_signals);
  std::fprintf(stderr, "coordinator: got %s, shutting down\n", strsignal(signal_number));
  (*server)->Shutdown();
  return 0;
}
