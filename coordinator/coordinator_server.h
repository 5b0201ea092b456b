// The Coordinator gRPC service (proto/coordinator.proto) as a library: Start() binds and
// serves; a thin adapter that routes each RPC and each worker message to its Job and sends
// back what the job hands out. The piece state lives in Job/PieceLedger.
//
// Threads: gRPC's sync thread pool runs the handlers (one per call; a worker's Work stream
// keeps its thread, which is the stream's one reader); each worker stream also has one writer
// thread draining that worker's queue, so whatever thread produces a message (another
// worker's handler, the ticker, a job's thread) never blocks on a slow worker; one ticker
// thread (every ~200 ms) expires leases, serves waiting workers and finds workers that
// stopped heartbeating; each job has its own thread for disk and announces.
//
//   CoordinatorServer::Options options;
//   options.listen_address = "127.0.0.1:0";
//   options.tracker_address = "127.0.0.1:7001";   // optional
//   SWARM_ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorServer> server,
//                          CoordinatorServer::Start(options));
//   std::cout << "coordinator listening on 127.0.0.1:" << server->port() << "\n";
//   ...
//   server->Shutdown();   // cancels the jobs (a "stopped" announce goes out), bounded time
#ifndef SWARM_COORDINATOR_COORDINATOR_SERVER_H_
#define SWARM_COORDINATOR_COORDINATOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/clock.h"
#include "grpcpp/server.h"
#include "rpc/tls.h"

namespace swarm::coordinator {

class CoordinatorServer {
 public:
  struct Options {
    // host:port to listen on; port 0 picks a free one (see port()).
    std::string listen_address = "127.0.0.1:0";
    // tracker_svc's host:port; empty: no announces (jobs then get no peers from trackers,
    // which is not an error).
    std::string tracker_address;
    // When not empty, a worker's Register must carry exactly this token or its stream ends
    // with UNAUTHENTICATED.
    std::string auth_token;
    // TLS for its server and for the channels it opens (rpc/tls.h); empty: plaintext.
    rpc::TlsConfig tls;
    // When not empty, jobs whose output_dir lies outside this folder (symlinks resolved)
    // are refused with PERMISSION_DENIED (output_root.h).
    std::string output_root;
    // A lease lapses after this long without progress.
    absl::Duration lease_ttl = absl::Seconds(10);
    // Workers heartbeat this often; one silent for 3 intervals is dead.
    absl::Duration heartbeat_interval = absl::Seconds(1);
    // Read for every deadline (leases, heartbeats, announces); null: the real clock. Not
    // owned; must outlive the server.
    Clock* clock = nullptr;
    // How often the ticker runs (real time).
    absl::Duration tick_period = absl::Milliseconds(200);
    // A Work stream that has not sent its Register after this long (real time) is ended:
    // otherwise anyone who reaches the port could hold a serving thread each for ever.
    absl::Duration register_timeout = absl::Seconds(10);
    // Time budget of the "stopped" announces that Shutdown() sends.
    absl::Duration stop_announce_timeout = absl::Seconds(3);
    // How long Shutdown() lets RPCs in flight end before cancelling them.
    absl::Duration shutdown_grace = absl::Seconds(1);
    // Most threads serving RPCs (each Work and WatchJob stream holds one).
    int max_threads = 1024;
    // Folder for the jobs' resume records (<info-hash>.resume), created if missing; empty:
    // no records, so a job on existing data has its workers check all of it.
    std::string state_dir;
    // With a state_dir: each job is saved there too (saved_jobs.h), and the saved jobs are
    // taken up again at Start, so that a coordinator killed mid-download carries on when it
    // is started again. Off for the CLI's embedded cluster, which runs one job of its own.
    bool keep_jobs = true;
  };

  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(Options options);
  ~CoordinatorServer();  // Shutdown()

  // The port bound.
  int port() const { return port_; }
  // The 20-byte peer id the coordinator announces with ("-SW0001-" and 12 random bytes).
  const std::string& peer_id() const;

  // Refuses new jobs and workers, cancels every running job, seeding ones included (StopJob
  // to the workers; "stopped" from each announced worker, all at once, bounded by
  // stop_announce_timeout), ends every stream and waits for the threads. Idempotent.
  void Shutdown();

  CoordinatorServer(const CoordinatorServer&) = delete;
  CoordinatorServer& operator=(const CoordinatorServer&) = delete;

 private:
  class Service;
  CoordinatorServer() = default;

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_COORDINATOR_SERVER_H_
