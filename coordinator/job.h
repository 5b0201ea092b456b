// One job = one torrent: its piece ledger, its peer pool, its files on disk, its announce
// schedule and its progress. The CoordinatorServer routes each worker message for the job
// here and sends out what the job hands back; the job never talks to a stream itself.
//
// Life of a job (coordinator/STATE.md has the full state machine):
//   Create()   parse the torrent, create the folder tree under output_dir and preallocate the
//              files (ContentFiles kCreate), all before any lease can exist;
//   Start()    the job's own thread re-hashes the data already on disk (CHECKING: that is the
//              resume), then DOWNLOADING: announces to tracker_svc, and workers get leases;
//   ...        the last PieceDone -> the thread syncs the files -> COMPLETE, StopJob to the
//              workers, event=completed; or Cancel() -> CANCELLED, event=stopped.
// The job's thread does every blocking thing the job needs (disk reads, fdatasync, announce
// RPCs) with no lock held; the other methods only touch memory and return at once.
//
//   Job::Options options;
//   options.deliver = [&](Outbox out) { server.Deliver(std::move(out)); };
//   SWARM_ASSIGN_OR_RETURN(std::unique_ptr<Job> job, Job::Create(torrent, "/data", options));
//   job->Start();
//   Outbox out;
//   job->OnRequestWork(worker, request, &out);   // out: AddPeers, GrantLeases for the worker
//   job->Tick(&out);                             // every ~200 ms: expiry, waiting workers
//
// Thread-safe. The job's mu_ is never held together with the server's: the server calls in
// without its own lock, and the job calls out (deliver, announce_port, the tracker) without
// its mu_. See coordinator/STATE.md for the lock order.
#ifndef SWARM_COORDINATOR_JOB_H_
#define SWARM_COORDINATOR_JOB_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bt/metainfo.h"
#include "common/content_files.h"
#include "coordinator/clock.h"
#include "coordinator/peer_pool.h"
#include "coordinator/piece_ledger.h"
#include "grpcpp/client_context.h"
#include "proto/coordinator.pb.h"
#include "proto/tracker.grpc.pb.h"

namespace swarm::coordinator {

// Messages for workers: (worker id, message); worker id kAllWorkers means every connected
// worker.
inline constexpr WorkerId kAllWorkers = 0;
using Outbox = std::vector<std::pair<WorkerId, CoordinatorMessage>>;

// What a job needs to know about the worker a message came from.
struct WorkerInfo {
  WorkerId id = 0;
  // Only workers that can write the output folder get leases.
  bool sees_output = false;
  // Most peers this worker holds at once (Register.max_peers); 0: no limit of its own.
  uint32_t max_peers = 0;
  // The worker's own listening address as a pool key ("ip:port"; empty when it does not
  // listen): it is never given itself as a peer.
  std::string self_key;
};

class Job {
 public:
  struct Options {
    Clock* clock = Clock::Real();
    PieceLedger::Options ledger;
    PeerPool::Options pool;
    // Announces go through this tracker_svc stub (not owned, outlives the job). Null: no
    // announces and so no peers from trackers, which is not an error (the job just waits).
    swarm::tracker::TrackerQuery::StubInterface* tracker = nullptr;
    // 20-byte peer id and key the coordinator announces with.
    std::string peer_id;
    uint32_t announce_key = 0;
    // The TCP port to announce (a worker's listening port, or 0); asked before each
    // announce, never with the job's lock held.
    std::function<uint32_t()> announce_port;
    // Sends messages the job's own thread produces (StartJob when CHECKING ends, StopJob,
    // AddPeers after an announce). Called with no job lock held.
    std::function<void(Outbox)> deliver;
    // How often the job's thread looks at the clock for a due announce.
    absl::Duration poll = absl::Milliseconds(200);
    // First retry after a failed announce; doubles up to max_announce_retry.
    absl::Duration announce_retry = absl::Seconds(5);
    absl::Duration max_announce_retry = absl::Minutes(5);
    // Shortest wait between regular announces, whatever a tracker says.
    absl::Duration min_announce_interval = absl::Seconds(10);
    // Time budget of a regular announce, and of the "stopped" one at cancel/shutdown (kept
    // short so that shutdown stays quick).
    absl::Duration announce_timeout = absl::Seconds(20);
    absl::Duration stopped_announce_timeout = absl::Seconds(3);
    // Most peers to ask a tracker for.
    uint32_t numwant = 200;
    // Caps on one RequestWork.
    uint32_t max_pieces_per_request = 1024;
    uint32_t max_peers_per_request = 200;
    // This many WRITE_ERROR failures in a row (no PieceDone between) fail the job: the
    // output storage is broken, not one piece.
    int max_write_errors_in_a_row = 10;
    // Window of the download rate.
    absl::Duration rate_window = absl::Seconds(5);
  };

  // Parses the torrent (INVALID_ARGUMENT on a bad one), creates the output layout under
  // `output_dir` (absolute, existing) and preallocates the files. The job is CHECKING and
  // does nothing until Start().
  static absl::StatusOr<std::unique_ptr<Job>> Create(std::string torrent,
                                                     const std::string& output_dir,
                                                     Options options);
  // Cancels (no "stopped" announce wait beyond its budget) and joins the thread.
  ~Job();

  // Starts the job's thread: CHECKING, then DOWNLOADING.
  void Start();

  // The info-hash in lower-case hex.
  const std::string& id() const { return id_; }
  const bt::Metainfo& metainfo() const { return metainfo_; }
  const std::string& output_dir() const { return output_dir_; }
  const std::string& torrent() const { return torrent_; }
  JobState state() const;
  static bool IsTerminal(JobState state);
  // The StartJob message for this job.
  StartJob StartJobMessage() const;

  // --- worker messages; each appends what to send to *out. Messages that make no sense (a
  // piece out of range, a lease the worker does not hold, a job not DOWNLOADING) are ignored.
  void OnRequestWork(const WorkerInfo& worker, const RequestWork& request, Outbox* out);
  void OnPieceDone(const WorkerInfo& worker, const PieceDone& done, Outbox* out);
  void OnPieceFailed(const WorkerInfo& worker, const PieceFailed& failed, Outbox* out);
  void OnPeerBitfield(const WorkerInfo& worker, const PeerBitfield& bitfield, Outbox* out);
  void OnPeerHave(const WorkerInfo& worker, const PeerHave& have, Outbox* out);
  void OnPeerClosed(const WorkerInfo& worker, const PeerClosed& closed, Outbox* out);
  void OnLeaseProgress(const WorkerInfo& worker, const Heartbeat::LeaseProgress& progress);
  // The worker is gone: its leases become NEEDED (or lose one endgame holder), its peers go
  // back to the pool, and both are offered to the workers still waiting for work.
  void RemoveWorker(WorkerId worker, Outbox* out);

  // Periodic work (the server's ticker): expires leases (RevokeLeases to their holders),
  // serves workers waiting for pieces or peers, samples the download rate.
  void Tick(Outbox* out);

  // CHECKING/DOWNLOADING -> CANCELLED: StopJob to every worker; the thread sends the
  // "stopped" announce and ends. No effect on a job that is finishing or over.
  void Cancel(Outbox* out);

  // A progress report; `workers` is the number of connected workers (the server knows it).
  JobProgress Progress(uint32_t workers) const;
  // Waits until the state is not `seen` or `timeout` passed; returns the state.
  JobState WaitForStateChange(JobState seen, absl::Duration timeout) const;
  // Waits for the job's thread to end (after a terminal state).
  void Join();

  // For tests: the ledger's view of one piece.
  PieceState piece_state(uint32_t piece) const;

 private:
  // Per-worker state of this job, created at the worker's first message for it.
  struct JobWorker {
    WorkerInfo info;
    // What the worker's last RequestWork asked for and has not been given yet: it is served
    // as pieces and peers become available, until its next RequestWork replaces it.
    uint32_t want_pieces = 0;
    uint32_t want_peers = 0;
    // Peers ("ip:port") the worker has reported a bitfield or have for: its lease candidates.
    absl::flat_hash_set<std::string> peers;
  };

  Job(std::string torrent, bt::Metainfo metainfo, std::string output_dir,
      std::unique_ptr<ContentFiles> files, Options options);

  void Run();
  // CHECKING: re-hashes every piece on disk; marks the matching ones verified.
  void RunCheck();
  // Syncs the files and moves to COMPLETE (or FAILED).
  void Finish();
  // One announce with `event`, performed with no lock held.
  void Announce(swarm::tracker::AnnounceEvent event, absl::Duration timeout);
  bool ThreadShouldWake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AnnounceDue(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  JobWorker& Worker(const WorkerInfo& info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Active() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives `w` what it is waiting for, as far as possible.
  void Serve(JobWorker& w, absl::Time now, Outbox* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ServeAll(absl::Time now, Outbox* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Revoke(WorkerId worker, std::vector<uint32_t> pieces, Outbox* out) const;
  // Forgets `key`'s availability as seen by every worker (a banned peer).
  void ForgetPeerEverywhere(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(std::string error, Outbox* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static std::string LedgerKey(WorkerId worker, const std::string& peer_key);
  double RateLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string torrent_;
  const bt::Metainfo metainfo_;
  const std::string id_;
  const std::string output_dir_;
  const Options options_;
  Clock* const clock_;

  // Used by the job's thread only (and released when it ends).
  std::unique_ptr<ContentFiles> files_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  JobState state_ ABSL_GUARDED_BY(mu_) = CHECKING;
  // The last piece is verified; the thread is syncing the files before COMPLETE.
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::string error_ ABSL_GUARDED_BY(mu_);
  PieceLedger ledger_ ABSL_GUARDED_BY(mu_);
  PeerPool pool_ ABSL_GUARDED_BY(mu_);
  std::map<WorkerId, JobWorker> workers_ ABSL_GUARDED_BY(mu_);
  // The worker ServeAll began with last time.
  WorkerId serve_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  int write_errors_in_a_row_ ABSL_GUARDED_BY(mu_) = 0;

  // Announce schedule.
  swarm::tracker::AnnounceEvent next_event_ ABSL_GUARDED_BY(mu_) = swarm::tracker::STARTED;
  absl::Time next_announce_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Duration retry_delay_ ABSL_GUARDED_BY(mu_);
  bool started_announced_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::string> tracker_ids_ ABSL_GUARDED_BY(mu_);
  std::string tracker_error_ ABSL_GUARDED_BY(mu_);
  // The announce in flight, so that Cancel can cut it short.
  grpc::ClientContext* announce_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;

  // (time, verified bytes) samples over the rate window, taken while DOWNLOADING.
  std::deque<std::pair<absl::Time, uint64_t>> rate_samples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_JOB_H_
