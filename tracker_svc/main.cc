// tracker_svc: serves TrackerQuery (proto/tracker.proto) until SIGINT or SIGTERM.
//
//   tracker_svc --listen=127.0.0.1:0
//   -> tracker_svc listening on 127.0.0.1:41234
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "process/main_flags.h"
#include "process/stop_signals.h"
#include "rpc/service_flags.h"
#include "tracker_svc/tracker_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port (port 0 picks a free one) or unix:/path to serve gRPC on; printed on stdout");

int main(int argc, char** argv) {
  swarm::process::ParseMainFlags(
      argc, argv, "Announces to and scrapes BitTorrent trackers for swarm over gRPC.");

  const sigset_t stop_signals = swarm::process::BlockStopSignals();

  const std::string listen = absl::GetFlag(FLAGS_listen);
  if (!swarm::process::IsListenAddress(listen)) {
    std::fprintf(stderr, "tracker_svc: --listen must be host:port or unix:/path, got \"%s\"\n",
                 listen.c_str());
    return 2;
  }
  swarm::tracker_svc::TrackerServer::Options options;
  options.listen_address = listen;
  absl::StatusOr<swarm::rpc::ServiceSecurity> security = swarm::rpc::ServiceSecurityFromFlags();
  if (!security.ok()) {
    std::fprintf(stderr, "tracker_svc: %s\n", std::string(security.status().message()).c_str());
    return 2;
  }
  options.auth_token = security->auth_token;
  options.tls = security->tls;
  auto server = swarm::tracker_svc::TrackerServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "tracker_svc: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("tracker_svc listening on %s\n",
              swarm::process::BoundAddress(listen, (*server)->port()).c_str());
  std::fflush(stdout);

  const int signal_number = swarm::process::WaitForStopSignal(stop_signals);
  std::fprintf(stderr, "tracker_svc: got %s, shutting down\n", strsignal(signal_number));
  (*server)->Shutdown();
  return 0;
}
