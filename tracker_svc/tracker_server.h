// The TrackerQuery gRPC service (proto/tracker.proto) as a library: Start() binds, serves on
// gRPC's thread pool (many concurrent calls, each bounded by its own time budget and gRPC
// deadline), and answers the standard gRPC health check ("" and "swarm.pb.TrackerQuery").
// A thin adapter over Announcer: converts messages, validates requests, picks deadlines.
//
//   tracker_svc::TrackerServer::Options options;
//   options.listen_address = "127.0.0.1:0";
//   SWARM_ASSIGN_OR_RETURN(std::unique_ptr<tracker_svc::TrackerServer> server,
//                          tracker_svc::TrackerServer::Start(options));
//   Connect(absl::StrCat("127.0.0.1:", server->port()));
//   server->Shutdown();
#ifndef SWARM_TRACKER_SVC_TRACKER_SERVER_H_
#define SWARM_TRACKER_SVC_TRACKER_SERVER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "rpc/tls.h"
#include "tracker_svc/announcer.h"

namespace swarm::tracker_svc {

class TrackerServer {
 public:
  struct Options {
    // host:port to listen on; port 0 picks a free one (see port()).
    std::string listen_address = "127.0.0.1:0";
    // Calls must carry it (rpc/auth_token.h); required beyond loopback, so that nobody else
    // can make us send requests to any host and port they like.
    std::string auth_token;
    // TLS for the server (rpc/tls.h); empty: plaintext.
    rpc::TlsConfig tls;
    // Time budget of a call whose request has timeout_ms = 0.
    absl::Duration default_timeout = absl::Seconds(30);
    // Largest timeout_ms accepted.
    absl::Duration max_timeout = absl::Minutes(5);
    // How long Shutdown() lets calls in flight finish before cancelling them.
    absl::Duration shutdown_grace = absl::Seconds(2);
    // Most threads serving calls at once; calls beyond it fail with RESOURCE_EXHAUSTED.
    int max_threads = 256;
    Announcer::Options announcer;
  };

  static absl::StatusOr<std::unique_ptr<TrackerServer>> Start(Options options);
  ~TrackerServer();  // Shutdown()

  // The port bound.
  int port() const { return port_; }

  // Marks the health check NOT_SERVING, stops accepting calls, lets calls in flight finish
  // for shutdown_grace, cancels the rest (they end promptly) and waits for them. Idempotent.
  void Shutdown();

  TrackerServer(const TrackerServer&) = delete;
  TrackerServer& operator=(const TrackerServer&) = delete;

 private:
  class Service;
  TrackerServer() = default;

  Options options_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace swarm::tracker_svc

#endif  // SWARM_TRACKER_SVC_TRACKER_SERVER_H_
