// One job = one torrent: its piece ledger, its peer pool, its files on disk, its announces
// and its progress. The CoordinatorServer routes each worker message for the job here and
// sends out what the job hands back; the job never talks to a stream itself.
//
// Life of a job (coordinator/STATE.md has the full state machine):
//   Create()   parse the torrent, create the folder tree under output_dir and preallocate the
//              files (ContentFiles kCreate; SEED mode only opens them, read-only), all before
//              any lease can exist;
//   Start()    the job's own thread reads the resume record and decides what to trust
//              (resume_plan.h); the pieces it does not vouch for are checked by the workers
//              as verify leases (CHECKING; the coordinator reads no content itself), then
//              DOWNLOADING (workers get leases), or SEEDING when every piece is there and the
//              mode seeds (SEED mode with pieces missing: FAILED);
//   ...        the last PiecesDone -> the thread syncs the files -> COMPLETE (mode DOWNLOAD) or
//              SEEDING (DOWNLOAD_THEN_SEED), `completed` announced; Cancel() -> CANCELLED.
// Meanwhile the thread announces each listening worker to the trackers as a peer of its own
// (AnnounceSchedule), or the coordinator itself while no worker listens.
// The job's thread does every blocking thing the job needs (the resume record, stat,
// fdatasync, announce RPCs) with no lock held; the other methods only touch memory and
// return at once. It saves the resume record every resume_interval when it changed, and
// once more at the end, after every worker has said it let go of the job (JobStopped).
//
//   Job::Options options;
//   options.deliver = [&](Outbox out) { server.Deliver(std::move(out)); };
//   SWARM_ASSIGN_OR_RETURN(std::unique_ptr<Job> job, Job::Create(torrent, "/data", options));
//   job->Start();
//   job->AddWorker(worker.id);                   // a worker registered: StartJob if serving
//   Outbox out;
//   job->OnRequestWork(worker, request, &out);   // out: AddPeers, GrantLeases for the worker
//   job->Tick(&out);                             // every ~200 ms: expiry, waiting workers
//
// Two kinds of messages leave a job. Answers to one call (leases, revokes, peers) come back
// in the caller's Outbox. Messages whose order matters across threads (StartJob with its
// verified bitfield, PiecesVerified, StopJob) the job delivers itself, in the order it made
// them (`deliver_mu_`), so that a worker sees every piece verified after its StartJob's
// snapshot in a later PiecesVerified, and never a StartJob after the StopJob.
//
// Thread-safe. The job's mu_ is never held together with the server's: the server calls in
// without its own lock, and the job calls out (deliver, the tracker) without its mu_. See
// coordinator/STATE.md for the lock order.
#ifndef SWARM_COORDINATOR_JOB_H_
#define SWARM_COORDINATOR_JOB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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
#include "absl/types/span.h"
#include "bt/magnet.h"
#include "bt/metainfo.h"
#include "coordinator/announce_schedule.h"
#include "coordinator/check_queue.h"
#include "coordinator/clock.h"
#include "coordinator/own_peers.h"
#include "coordinator/peer_pool.h"
#include "coordinator/piece_ledger.h"
#include "coordinator/rate_window.h"
#include "coordinator/worker_id.h"
#include "grpcpp/client_context.h"
#include "proto/coordinator.pb.h"
#include "proto/tracker.grpc.pb.h"
#include "storage/content_files.h"

namespace swarm::coordinator {

// Messages for workers: (worker id, message); worker id kAllWorkers means every connected
// worker.
inline constexpr WorkerId kAllWorkers = 0;
using Outbox = std::vector<std::pair<WorkerId, pb::CoordinatorMessage>>;

// What a job needs to know about the worker a message came from.
struct WorkerInfo {
  WorkerId id = 0;
  // Only workers that can write the output folder get leases.
  bool sees_output = false;
  // Most peers this worker holds at once (Register.max_peers); 0: no limit of its own.
  uint32_t max_peers = 0;
  // Register.name, for what the job shows about its workers.
  std::string name;
  // The IP address its session comes from; empty when unknown (a Unix socket). Workers on
  // different known hosts may share a swarm peer (PeerPool::Take).
  std::string host;
};

class Job {
 public:
  struct Options {
    Clock* clock = Clock::Real();
    PieceLedger::Options ledger;
    PeerPool::Options pool;
    // What the job does once its data is checked (SubmitJobRequest.mode).
    pb::JobMode mode = pb::DOWNLOAD;
    // Announces go through this tracker_svc stub (not owned, outlives the job). Null: no
    // announces and so no peers from trackers, which is not an error (the job just waits).
    pb::TrackerQuery::StubInterface* tracker = nullptr;
    // Presented to every tracker_svc (the cluster's token); empty: none.
    std::string tracker_token;
    // 20-byte peer id and key the coordinator announces with while no worker listens.
    std::string peer_id;
    uint32_t announce_key = 0;
    // The server's workers as peers: announced as such, never handed out as swarm peers.
    // Not owned, outlives the job; null: none.
    const OwnPeers* own_peers = nullptr;
    // Delivers messages the job sends by itself (StartJob, PiecesVerified, StopJob, and
    // AddPeers after an announce). Called with no job lock held, from any thread.
    std::function<void(Outbox)> deliver;
    // How often the job's thread looks at the clock for a due announce.
    absl::Duration poll = absl::Milliseconds(200);
    // First retry after a failed announce; doubles up to max_announce_retry.
    absl::Duration announce_retry = absl::Seconds(5);
    absl::Duration max_announce_retry = absl::Minutes(5);
    // Shortest wait between regular announces, whatever a tracker says (lowered to
    // max_announce_interval when that is smaller).
    absl::Duration min_announce_interval = absl::Seconds(10);
    // Longest wait between announces, whatever a tracker says; zero: the tracker's interval
    // (SubmitJobRequest.max_announce_interval_s). It overrides the tracker's min interval too.
    absl::Duration max_announce_interval = absl::ZeroDuration();
    // Newly verified pieces go to the workers (PiecesVerified) at the first tick this long
    // after the last batch, or as soon as this many have piled up: the workers only
    // announce them to their peers, and a message per tick per worker would make the
    // coordinator's work follow time at a higher rate than it needs to.
    absl::Duration verified_interval = absl::Seconds(1);
    size_t verified_batch = 50;
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
    // Window of the download and upload rates.
    absl::Duration rate_window = absl::Seconds(5);
    // The job's resume record (resume_record.h); empty: none is read or kept, and whatever
    // data is on disk is checked.
    std::string resume_path;
    // Check every piece on disk whatever the record says (SubmitJobRequest.recheck).
    bool recheck = false;
    // Overwrite files at the torrent's paths that this download did not make where they
    // differ from the torrent (SubmitJobRequest.overwrite); otherwise such a file fails
    // the job.
    bool overwrite = false;
    // How often, at most, the record is saved while the job runs (and once at its end).
    absl::Duration resume_interval = absl::Seconds(10);
    // A worker's verify leases lapse when it reports no result for this long; and when
    // workers are connected but none takes any for this long (none can open the files), the
    // check is given up: its pieces are fetched instead.
    absl::Duration check_ttl = absl::Seconds(30);
    // Cap on one RequestChecks.
    uint32_t max_checks_per_request = 256;
    // At its end the job waits this long, at most, for its workers' JobStopped before it
    // records the files' stamps (a write after them would only cost a check next time).
    absl::Duration stop_ack_timeout = absl::Seconds(5);
  };

  // Parses the torrent (INVALID_ARGUMENT on a bad one), creates the output layout under
  // `output_dir` (absolute, existing) and preallocates the files; in SEED mode the files must
  // exist already and are only opened for reading (nothing is created or changed). The job
  // is CHECKING and does nothing until Start().
  static absl::StatusOr<std::unique_ptr<Job>> Create(std::string torrent,
                                                     const std::string& output_dir,
                                                     Options options);
  // The same, for a torrent its caller has parsed already: `metainfo` is ParseMetainfo(torrent).
  static absl::StatusOr<std::unique_ptr<Job>> Create(std::string torrent, bt::Metainfo metainfo,
                                                     const std::string& output_dir,
                                                     Options options);
  // A magnet link's job (job_metadata.cc): FETCHING_METADATA, with the link's trackers and
  // peers, until a worker sends the info dictionary (OnMetadataFound). No file is made: the
  // server then hands over to a job made from the torrent (HandOver). `output_dir` is checked
  // as by Create.
  // INVALID_ARGUMENT or FAILED_PRECONDITION unless `output_dir` is an absolute path to a
  // folder.
  static absl::Status CheckOutputDir(const std::string& output_dir);
  static absl::StatusOr<std::unique_ptr<Job>> CreateFromMagnet(const bt::MagnetLink& link,
                                                               const std::string& output_dir,
                                                               Options options);
  // Cancels (no "stopped" announce wait beyond its budget) and joins the thread.
  ~Job();

  // Starts the job's thread: CHECKING, then DOWNLOADING or SEEDING.
  void Start();

  // The info-hash in lower-case hex.
  const std::string& id() const { return id_; }
  const bt::Metainfo& metainfo() const { return metainfo_; }
  const std::string& output_dir() const { return output_dir_; }
  const std::string& torrent() const { return torrent_; }
  pb::JobMode mode() const { return options_.mode; }
  pb::JobState state() const;
  static bool IsTerminal(pb::JobState state);
  // A worker registered: it is sent StartJob (delivered by the job) if the job is
  // DOWNLOADING or SEEDING. The server calls this for every job, after the worker is in its
  // workers map (a job that starts serving later reaches it by its broadcast).
  void AddWorker(WorkerId worker);

  // Peers a worker's peer told it of (ut_pex): into the pool through the tracker filters.
  void OnPeersLearned(const WorkerInfo& worker, const pb::PeersLearned& learned, Outbox* out);

  // --- a magnet link's job (job_metadata.cc) ---
  // A part of the info dictionary from a worker (MetadataFound). True once the parts of one
  // worker make a dictionary whose SHA-1 is the info-hash: metadata_torrent() has the
  // .torrent then. Anything else (a job not FETCHING_METADATA, parts out of order, a
  // dictionary that is not the info-hash's) is dropped.
  bool OnMetadataFound(const WorkerInfo& worker, const pb::MetadataFound& part);
  std::string metadata_torrent() const;
  // The job made from the torrent has taken this one's place: this one ends (CANCELLED), its
  // workers stop their fetches, and WatchJob follows the successor (handed_over()).
  void HandOver();
  bool handed_over() const;
  // Ends the job as FAILED with `error` (the torrent made of the metadata cannot run).
  void Abort(std::string error);
  // The peers the job knows of (not banned), and more for it: what a magnet link's job
  // learned goes to its successor (a link's x.pe peers may be all there is).
  std::vector<bt::Endpoint> KnownPeers() const;
  void AddKnownPeers(absl::Span<const bt::Endpoint> peers);

  // --- worker messages; each appends what to send to *out. Messages that make no sense (a
  // piece out of range, a lease the worker does not hold, a job not DOWNLOADING) are ignored.
  // While SEEDING only peers are handed out (RequestWork's max_pieces is ignored).
  void OnRequestWork(const WorkerInfo& worker, const pb::RequestWork& request, Outbox* out);
  void OnPiecesDone(const WorkerInfo& worker, const pb::PiecesDone& done, Outbox* out);
  void OnPieceFailed(const WorkerInfo& worker, const pb::PieceFailed& failed, Outbox* out);
  void OnPeerBitfield(const WorkerInfo& worker, const pb::PeerBitfield& bitfield, Outbox* out);
  void OnPeerHave(const WorkerInfo& worker, const pb::PeerHave& have, Outbox* out);
  void OnPeerClosed(const WorkerInfo& worker, const pb::PeerClosed& closed, Outbox* out);
  void OnLeaseProgress(const WorkerInfo& worker, const pb::Heartbeat::LeaseProgress& progress);
  // The worker's transfer totals for this job (Heartbeat.jobs): progress and its announces.
  void OnTransfer(const WorkerInfo& worker, const pb::Heartbeat::JobTransfer& transfer);
  // While CHECKING: the worker has room for this many more pieces to check (CheckPieces in
  // *out, now or as pieces free up), and its results.
  void OnRequestChecks(const WorkerInfo& worker, const pb::RequestChecks& request, Outbox* out);
  void OnPiecesChecked(const WorkerInfo& worker, const pb::PiecesChecked& checked, Outbox* out);
  // The worker let go of the job after StopJob: it writes nothing more into its files.
  void OnJobStopped(const WorkerInfo& worker);
  // The worker cannot take part in the job: it loses what it holds (as RemoveWorker), and is
  // given, counted and announced no more; the job's progress shows it with its reason.
  void OnJobRefused(const WorkerInfo& worker, const pb::JobRefused& refused, Outbox* out);
  // The worker is gone: its leases become NEEDED (or lose one endgame holder), its peers go
  // back to the pool, and both are offered to the workers still waiting for work.
  void RemoveWorker(WorkerId worker, Outbox* out);

  // Periodic work (the server's ticker): expires leases (RevokeLeases to their holders),
  // serves workers waiting for pieces or peers, sends the pieces verified since the last
  // tick (PiecesVerified, delivered by the job), samples the rates.
  void Tick(Outbox* out);

  // CHECKING/DOWNLOADING/SEEDING -> CANCELLED: StopJob to every worker (delivered by the
  // job); the thread sends the "stopped" announces and ends. No effect on a job that is over,
  // nor on a DOWNLOAD job that is finishing; a DOWNLOAD_THEN_SEED job that is finishing is
  // cancelled once its files are synced.
  void Cancel();

  // A progress report; `workers` is the number of connected workers (the server knows it),
  // of which those that refused the job are not counted.
  pb::JobProgress Progress(uint32_t workers) const;
  // Waits until the state is not `seen` or `timeout` passed; returns the state.
  pb::JobState WaitForStateChange(pb::JobState seen, absl::Duration timeout) const;
  // Waits for the job's thread to end (after a terminal state; its resume record is saved
  // then). Any thread, any number of times.
  void Join() ABSL_LOCKS_EXCLUDED(join_mu_, mu_);

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
    uint32_t want_checks = 0;
    // Peers ("ip:port") the worker has reported a bitfield or have for: its lease candidates.
    absl::flat_hash_set<std::string> peers;
  };

  // A worker's transfer totals for the job (Heartbeat.jobs). Kept after the worker is gone
  // until its `stopped` announce is out (it says how much it uploaded), then folded into
  // departed_uploaded_.
  struct Transfer {
    uint64_t uploaded = 0;
    uint64_t downloaded = 0;
    uint32_t upload_peers = 0;
    bool gone = false;
  };

  Job(std::string torrent, bt::Metainfo metainfo, std::string output_dir,
      std::unique_ptr<storage::ContentFiles> files, Options options);

  void Run();
  // CHECKING: reads the resume record and marks what it vouches for verified; queues the
  // rest of the data on disk for the workers to check.
  void PlanCheck();
  // Every check is in: DOWNLOADING, SEEDING, finishing or FAILED. With `out`, serves the
  // workers whose requests waited for the check.
  void EndCheckLocked(Outbox* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ServeChecks(JobWorker& w, absl::Time now, Outbox* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // On the job's thread: saves the resume record if it changed (at most every
  // resume_interval, unless `now_or_never`: the job's end).
  void SaveResume(bool now_or_never);
  // On the job's thread, before the check: a record with nothing verified that names the
  // files this download made and none of the `foreign` ones (ResumePlan).
  void SaveFirstRecord(const std::vector<bool>& foreign);
  // A foreign file (ResumePlan) that piece `p` lies in, if any.
  const bt::FileEntry* ForeignFileOf(uint32_t p) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every worker of the job has sent JobStopped, or is gone.
  bool WorkersLetGo() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Syncs the files and moves to COMPLETE or SEEDING (or FAILED).
  void Finish();
  bool ThreadShouldWake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- announces (job_announce.cc) ---
  // Whether the schedule runs: DOWNLOADING (not finishing) or SEEDING, with trackers.
  bool AnnouncesActive() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // No peer is held by a worker and none is free to give out: all are banned or backing off
  // (the cue for an early announce).
  bool OutOfPeersLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Who should be announced now: the listening workers, or else the coordinator itself.
  std::vector<AnnounceIdentity> IdentitiesLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Performs every announce due now, in parallel, with no lock held; applies the answers.
  void RunDueAnnounces();
  pb::AnnounceRequest RequestFor(const DueAnnounce& due) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts a tracker answer's peers into the pool (not banned ones, not our own workers).
  size_t AddTrackerPeers(const pb::AnnounceResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job is over: every identity leaves, announces in flight (not final ones) are cut.
  void LeaveSwarmLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- messages the job delivers itself, in order ---
  // Sends what is queued in ordered_. Never called with mu_ held.
  void FlushOrdered() ABSL_LOCKS_EXCLUDED(mu_);
  void QueueStartJobLocked(WorkerId to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void QueueStopJobLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void QueueFetchMetadataLocked(WorkerId to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues PiecesVerified for the pieces verified since the last one.
  void QueueVerifiedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The StartJob message for this job, with the pieces verified now.
  pb::StartJob StartJobLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  JobWorker& Worker(const WorkerInfo& info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops what `worker` holds of the job and serves the others with it (RemoveWorker, and
  // OnJobRefused).
  void ReleaseWorkerLocked(WorkerId worker, Outbox* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Connected workers that can take part in the job (at least 1, to share peers by).
  size_t TakingPartLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // No other worker of the job runs on `w`'s host (the same address).
  bool AloneOnHostLocked(const JobWorker& w) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // DOWNLOADING and not finishing: leases go out.
  bool Active() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Active or SEEDING: peers go out.
  bool Serving() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CHECKING found everything, or the last piece was synced: SEEDING.
  void EnterSeedingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives `w` what it is waiting for, as far as possible.
  void Serve(JobWorker& w, absl::Time now, Outbox* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ServeAll(absl::Time now, Outbox* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Revoke(WorkerId worker, std::vector<uint32_t> pieces, Outbox* out) const;
  // Forgets `key`'s availability as seen by every worker (a banned peer).
  void ForgetPeerEverywhere(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(std::string error) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Worker- or tracker-supplied text that ends up in a JobProgress: bounded.
  static std::string Truncate(const std::string& s, size_t max = 200);
  void Log(const std::string& text) const;
  std::shared_ptr<const OwnPeers::Snapshot> Own() const;
  uint64_t UploadedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string torrent_;
  // A magnet link's job: a stand-in of one 1-byte piece, with the link's info-hash, name
  // and trackers, until the server hands over to the real torrent's job.
  const bt::Metainfo metainfo_;
  std::optional<bt::MagnetLink> magnet_;  // set once, before Start
  // A magnet link's job: the dictionary's parts by sending worker, and the .torrent made.
  absl::flat_hash_map<WorkerId, std::string> metadata_parts_ ABSL_GUARDED_BY(mu_);
  std::string metadata_torrent_ ABSL_GUARDED_BY(mu_);
  bool handed_over_ ABSL_GUARDED_BY(mu_) = false;
  const std::string id_;
  const std::string output_dir_;
  const Options options_;
  Clock* const clock_;

  // Used by the job's thread only (and released when it ends).
  std::unique_ptr<storage::ContentFiles> files_;
  std::thread thread_;
  // Serializes Join (the server's shutdown and a new run of the same torrent may both wait).
  absl::Mutex join_mu_;

  // Held while ordered messages are taken from ordered_ and delivered; before mu_.
  absl::Mutex deliver_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  pb::JobState state_ ABSL_GUARDED_BY(mu_) = pb::CHECKING;
  // The last piece is verified; the thread is syncing the files before COMPLETE/SEEDING.
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  // Cancel() came while finishing a DOWNLOAD_THEN_SEED job: CANCELLED once synced.
  bool cancel_after_finish_ ABSL_GUARDED_BY(mu_) = false;
  // The data on disk has been looked at (record and checks): the verified set is the truth
  // about the files, and may be recorded.
  bool checked_ ABSL_GUARDED_BY(mu_) = false;
  // Per file: found with data this download did not make (ResumePlan::foreign).
  std::vector<bool> foreign_ ABSL_GUARDED_BY(mu_);
  // Pieces the workers are to check (CHECKING).
  CheckQueue checks_ ABSL_GUARDED_BY(mu_);
  // When the check started, or a worker last took pieces to check or reported on them.
  absl::Time last_check_activity_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Workers that sent JobStopped.
  absl::flat_hash_set<WorkerId> let_go_ ABSL_GUARDED_BY(mu_);
  // Connected workers that cannot take part (JobRefused): name and reason.
  absl::flat_hash_map<WorkerId, std::pair<std::string, std::string>> refused_ ABSL_GUARDED_BY(mu_);
  // The job is being destroyed: its end waits for nobody.
  bool destroying_ ABSL_GUARDED_BY(mu_) = false;
  // The job's thread only: the record last saved, and when the next may be.
  std::string saved_record_;
  absl::Time next_resume_save_ = absl::InfinitePast();
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::string error_ ABSL_GUARDED_BY(mu_);
  PieceLedger ledger_ ABSL_GUARDED_BY(mu_);
  PeerPool pool_ ABSL_GUARDED_BY(mu_);
  std::map<WorkerId, JobWorker> workers_ ABSL_GUARDED_BY(mu_);
  // The worker ServeAll began with last time.
  WorkerId serve_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  int write_errors_in_a_row_ ABSL_GUARDED_BY(mu_) = 0;

  // Messages delivered by the job itself, in the order made.
  Outbox ordered_ ABSL_GUARDED_BY(mu_);
  // Pieces verified by PieceDone and not yet sent as PiecesVerified.
  std::vector<uint32_t> pending_verified_ ABSL_GUARDED_BY(mu_);
  absl::Time verified_sent_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  std::map<WorkerId, Transfer> transfers_ ABSL_GUARDED_BY(mu_);
  // Uploads of workers that are gone and folded away.
  uint64_t departed_uploaded_ ABSL_GUARDED_BY(mu_) = 0;

  // Announces.
  AnnounceSchedule schedule_ ABSL_GUARDED_BY(mu_);
  std::string tracker_error_ ABSL_GUARDED_BY(mu_);
  // Announces in flight, so that Cancel can cut them short; true for final ones (`stopped`
  // and a last `completed`), which are left to finish within their short budget.
  absl::flat_hash_map<grpc::ClientContext*, bool> announces_in_flight_ ABSL_GUARDED_BY(mu_);

  // Verified bytes, sampled while DOWNLOADING; bytes uploaded, sampled while serving.
  RateWindow download_rate_ ABSL_GUARDED_BY(mu_);
  RateWindow upload_rate_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_JOB_H_
