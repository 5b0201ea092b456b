// The peer worker: one session with the coordinator (a Work stream), the jobs it is told to
// serve, the heartbeats that keep it and its leases alive, and a listening socket where swarm
// peers connect to it (each worker is a peer of its own in the swarm: the coordinator
// announces it to trackers at the listen address and port it registers with). The worker is
// stateless beyond its leases: when the session ends it drops every job, tries to register
// again a few times, and gives up (Wait returns an error) if the coordinator stays away.
//
// Threads: a reader for the stream (dispatches StartJob / AddPeers / GrantLeases /
// RevokeLeases / PiecesVerified / StopJob; fetches torrents), a control thread that alone
// writes to the stream (an outbox filled by everyone, heartbeats, each job's Tick), the
// Listener's, one per peer connection, and each job's piece writer (peer_svc/WORKER.md).
//
//   peer_svc::Worker::Options o;
//   o.coordinator = "127.0.0.1:7000";
//   SWARM_ASSIGN_OR_RETURN(std::unique_ptr<peer_svc::Worker> w, peer_svc::Worker::Start(o));
//   std::cout << "registered as worker " << w->worker_id() << ", peers connect to port "
//             << w->listen_port() << "\n";
//   absl::Status s = w->Wait();   // until Shutdown() or the coordinator is gone for good
#ifndef SWARM_PEER_SVC_WORKER_H_
#define SWARM_PEER_SVC_WORKER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bt/wire.h"
#include "peer_svc/listener.h"
#include "peer_svc/metadata_job.h"
#include "peer_svc/peer_connection.h"
#include "peer_svc/piece_sink_server.h"
#include "peer_svc/worker_job.h"
#include "proto/coordinator.grpc.pb.h"
#include "rpc/tls.h"

namespace swarm::peer_svc {

class Worker {
 public:
  struct Options {
    // host:port of the coordinator.
    std::string coordinator;
    std::string auth_token;
    // TLS for its server and for the channels it opens (rpc/tls.h); empty: plaintext.
    rpc::TlsConfig tls;
    // Most peer connections at once, over all jobs.
    uint32_t max_peers = 50;
    // Of those, how many only our own dials may fill (a fifth, at least one but never all, by
    // default: see ReservedOutbound), so that peers dialling in can never take every slot
    // and leave none for the seeders the coordinator hands out.
    int reserved_outbound = -1;
    // Most connections that one IP address may open to us at once (all jobs).
    uint32_t max_incoming_per_ip = 4;
    // Source address for peer connections (tests give each worker its own 127.x).
    std::string bind_ip;
    // Where swarm peers connect to us: the address bound and registered with the coordinator
    // (which announces it to trackers). Empty: bind_ip when given, else this host's address
    // toward the coordinator (LocalAddressToward: loopback beside it, the host's network
    // address across machines). A
    // wildcard (0.0.0.0, ::) is registered as empty: the coordinator then announces the
    // address it sees the worker's session come from.
    std::string listen_ip;
    // 0: an ephemeral port (see listen_port()).
    uint16_t listen_port = 0;
    // For the coordinator's logs; empty: host:pid.
    std::string name;
    // A tracker_svc on this host (host:port) for the coordinator to announce us through
    // (Register.tracker_svc); empty: the coordinator's own.
    std::string tracker_svc;
    // How long to wait for the coordinator at start (connection and Welcome): long enough for
    // a coordinator started at the same time to come up.
    absl::Duration connect_timeout = absl::Seconds(10);
    // After the session ends the worker registers again, and keeps trying while its
    // coordinator is away (restarting, unreachable): it waits `reconnect_backoff`, doubling
    // up to `max_reconnect_backoff`, with `reconnect_timeout` for each attempt. A positive
    // `reconnect_attempts` gives up after that many (Wait then returns the error); 0, the
    // default, never does.
    int reconnect_attempts = 0;
    absl::Duration reconnect_backoff = absl::Seconds(1);
    absl::Duration max_reconnect_backoff = absl::Seconds(30);
    absl::Duration reconnect_timeout = absl::Seconds(2);
    // Bytes of piece buffers (being assembled, waiting for the disk, kept for reuse) over all
    // jobs; connections wait for memory beyond it. A piece longer than this still downloads,
    // one at a time.
    size_t piece_memory_bytes = size_t{512} << 20;
    // Every job's tuning: RequestWork pacing, endgame, orphans, choker, writer, and the
    // template of its peer connections (job.connection: timeouts, pipeline, uploads). The
    // worker fills in job_id, the transfer counters and the connections' peer_id, bind_ip
    // (from bind_ip above) and listen_port.
    WorkerJob::Options job;
    // Log jobs and session events to stderr.
    bool verbose = true;
  };

  // Connects, registers and waits for Welcome; then serves until Shutdown.
  static absl::StatusOr<std::unique_ptr<Worker>> Start(const Options& options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The coordinator's id for this worker in the current session.
  uint64_t worker_id() const;
  // The budget every job's piece buffers come out of.
  const PieceMemory& piece_memory() const { return *piece_memory_; }
  // Attempts to register again that failed since the coordinator was last reached.
  int failed_reconnects() const { return failed_reconnects_.load(); }
  // The peer id in our handshakes: "-SW0001-" and 12 random characters.
  const std::array<uint8_t, 20>& peer_id() const { return peer_id_; }
  // Where peers connect to us.
  const std::string& listen_ip() const { return listener_->ip(); }
  // Where other workers stream us pieces of jobs whose folder they cannot see (host:port).
  const std::string& sink_address() const { return sink_address_; }
  uint16_t listen_port() const { return listener_->port(); }
  // Blocks until the worker has stopped: OK after Shutdown, the reason when the coordinator
  // was lost for good (or refused us).
  absl::Status Wait();
  // Drops every job, ends the session, joins the threads. Idempotent.
  void Shutdown();

 private:
  using Stream = grpc::ClientReaderWriter<pb::WorkerMessage, pb::CoordinatorMessage>;
  struct Session {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<Stream> stream;
    uint64_t worker_id = 0;
    absl::Duration heartbeat_interval = absl::Seconds(5);
    // False once the reader has seen the stream end: no more Writes.
    bool alive = false;
  };

  explicit Worker(const Options& options);
  absl::StatusOr<Session> OpenSession(absl::Duration timeout);
  // Reads the stream, re-registers when it ends, until shutdown or giving up.
  void ReaderLoop();
  // Returns the status the stream ended with.
  absl::Status ReadSession();
  void Dispatch(const pb::CoordinatorMessage& m);
  void StartJob(const pb::StartJob& start);
  void FetchMetadata(const pb::FetchMetadata& fetch);
  // The PieceSink's way into a job of ours (null when we do not have it).
  std::shared_ptr<WorkerJob> FindJob(const std::string& id);
  absl::StatusOr<std::string> FetchTorrent(const std::string& job_id, uint64_t size);
  // Answers leases / peers given for a job this worker cannot serve, so they are not stuck.
  void RefuseWork(const std::string& job_id, const pb::CoordinatorMessage& m,
                  const std::string& why);
  void StopAllJobs();
  // The Listener's handler: hands an incoming peer to the job with its info-hash.
  bool OnIncomingPeer(int fd, const bt::Handshake& handshake, const bt::Endpoint& remote);
  void ControlLoop();
  void Send(pb::WorkerMessage m);
  void Poke();
  void Log(const std::string& line) const;
  // Slots only our own dials may fill (Options::reserved_outbound).
  uint32_t ReservedOutbound() const;
  // Logs why a peer that dialled in was refused (at most once a minute per address).
  void LogRefusal(const bt::Endpoint& remote, const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);
  void Finish(const absl::Status& status);

  const Options options_;
  std::array<uint8_t, 20> peer_id_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Coordinator::Stub> stub_;
  std::atomic<uint64_t> downloaded_bytes_{0};
  // Every job's piece buffers come out of it (Options::piece_memory_bytes).
  std::shared_ptr<PieceMemory> piece_memory_;
  std::atomic<int> failed_reconnects_{0};
  std::atomic<uint64_t> uploaded_bytes_{0};
  // Started before the session (its port goes into Register), stopped first at Shutdown.
  std::unique_ptr<Listener> listener_;
  // Where other workers stream pieces for our jobs' files (Register.sink_address); started
  // and stopped with the listener.
  std::unique_ptr<PieceSinkServer> sink_;
  std::string sink_address_;

  // The session: the stream is written only by the control thread under session_mu_, read
  // only by the reader thread; replaced by the reader between sessions (under session_mu_).
  mutable absl::Mutex session_mu_;
  Session session_ ABSL_GUARDED_BY(session_mu_);

  // The current session's context, for Shutdown to cancel it without waiting for
  // session_mu_ (which a Write stuck on flow control may hold).
  absl::Mutex cancel_mu_;
  grpc::ClientContext* current_context_ ABSL_GUARDED_BY(cancel_mu_) = nullptr;

  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // When a refusal was last logged, per IP address.
  absl::flat_hash_map<std::string, absl::Time> refusals_logged_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  std::deque<pb::WorkerMessage> outbox_ ABSL_GUARDED_BY(mu_);
  bool poked_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, std::shared_ptr<WorkerJob>> jobs_ ABSL_GUARDED_BY(mu_);
  // Magnet links' jobs before their torrents are known (FetchMetadata).
  absl::flat_hash_map<std::string, std::shared_ptr<MetadataJob>> metadata_jobs_
      ABSL_GUARDED_BY(mu_);
  // Jobs this worker could not start, and why.
  absl::flat_hash_map<std::string, std::string> failed_jobs_ ABSL_GUARDED_BY(mu_);

  std::thread reader_;
  std::thread control_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_WORKER_H_
