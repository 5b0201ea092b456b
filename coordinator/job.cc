#include "coordinator/job.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "bt/dialable.h"
#include "bt/sha1.h"
#include "bt/ut_pex.h"
#include "coordinator/resume_plan.h"
#include "coordinator/resume_record.h"

namespace swarm::coordinator {
namespace {

// The pool's and the ledger's key for a peer a worker reports ("ip:port"); empty when the
// address does not parse (a worker's report is not trusted).
std::string PeerKey(const pb::PeerAddress& peer) {
  absl::StatusOr<bt::Endpoint> endpoint = bt::Endpoint::Make(peer.ip(), peer.port());
  return endpoint.ok() ? endpoint->ToString() : "";
}

AnnounceSchedule::Options ScheduleOptions(const Job::Options& o) {
  AnnounceSchedule::Options s;
  s.retry = o.announce_retry;
  s.max_retry = o.max_announce_retry;
  s.min_interval = o.min_announce_interval;
  s.max_interval = o.max_announce_interval;
  return s;
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Job>> Job::Create(std::string torrent, const std::string& output_dir,
                                                 Options options) {
  absl::StatusOr<bt::Metainfo> metainfo = bt::ParseMetainfo(torrent);
  if (!metainfo.ok()) {
    // Whatever the parser's code, a torrent that does not parse is the caller's bad argument.
    return absl::InvalidArgumentError(absl::StrCat("bad torrent: ", metainfo.status().message()));
  }
  return Create(std::move(torrent), *std::move(metainfo), output_dir, std::move(options));
}

absl::Status Job::CheckOutputDir(const std::string& output_dir) {
  if (output_dir.empty() || output_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("output_dir must be an absolute path, got \"", output_dir, "\""));
  }
  struct stat st;
  if (stat(output_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("output_dir \"", output_dir, "\" is not an existing folder"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Job>> Job::Create(std::string torrent, bt::Metainfo metainfo,
                                                 const std::string& output_dir, Options options) {
  SWARM_RETURN_IF_ERROR(CheckOutputDir(output_dir));
  // Seeding only reads: a wrong data path must not sprout a tree of empty preallocated files.
  const bool seed_only = options.mode == pb::SEED;
  absl::StatusOr<std::unique_ptr<storage::ContentFiles>> files =
      storage::ContentFiles::Open(metainfo, output_dir,
                                  seed_only           ? storage::ContentMode::kReadOnly
                                  : options.overwrite ? storage::ContentMode::kCreateOverwrite
                                                      : storage::ContentMode::kCreate);
  if (!files.ok()) {
    return absl::Status(
        files.status().code(),
        absl::StrCat(seed_only ? "opening the data to seed: " : "creating the output files: ",
                     files.status().message()));
  }
  return std::unique_ptr<Job>(new Job(std::move(torrent), std::move(metainfo), output_dir,
                                      *std::move(files), std::move(options)));
}

Job::Job(std::string torrent, bt::Metainfo metainfo, std::string output_dir,
         std::unique_ptr<storage::ContentFiles> files, Options options)
    : torrent_(std::move(torrent)),
      metainfo_(std::move(metainfo)),
      id_(bt::ToHex(metainfo_.info_hash)),
      output_dir_(std::move(output_dir)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()),
      files_(std::move(files)),
      checks_(metainfo_.num_pieces(), options_.check_ttl),
      ledger_(metainfo_.layout(), options_.ledger),
      pool_(options_.pool),
      schedule_(ScheduleOptions(options_)),
      download_rate_(options_.rate_window),
      upload_rate_(options_.rate_window) {}

Job::~Job() {
  {
    absl::MutexLock lock(&mu_);
    if (!IsTerminal(state_)) {
      state_ = pb::CANCELLED;
      wake_ = true;
      LeaveSwarmLocked();
    }
    ordered_.clear();  // the server has stopped the job's workers already, or is going away
    destroying_ = true;
  }
  Join();
}

void Job::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void Job::Join() {
  absl::MutexLock lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

pb::JobState Job::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

bool Job::IsTerminal(pb::JobState state) {
  return state == pb::COMPLETE || state == pb::FAILED || state == pb::CANCELLED;
}

pb::StartJob Job::StartJobLocked() const {
  pb::StartJob m;
  m.set_job_id(id_);
  m.set_output_dir(output_dir_);
  m.set_torrent_size(torrent_.size());
  m.set_verified(ledger_.VerifiedBitfield().ToBytes());
  m.set_check(state_ == pb::CHECKING && !checks_.done());
  for (const std::string& sink : Own()->sinks) m.add_sinks(sink);
  return m;
}

PieceState Job::piece_state(uint32_t piece) const {
  absl::MutexLock lock(&mu_);
  return ledger_.state(piece);
}

std::string Job::Truncate(const std::string& s, size_t max) {
  return s.size() <= max ? s : s.substr(0, max) + "...";
}

void Job::Log(const std::string& text) const {
  std::fprintf(stderr, "coordinator: job %s: %s\n", id_.substr(0, 12).c_str(), text.c_str());
}

std::shared_ptr<const OwnPeers::Snapshot> Job::Own() const {
  static const auto* const kNone =
      new std::shared_ptr<const OwnPeers::Snapshot>(std::make_shared<OwnPeers::Snapshot>());
  return options_.own_peers != nullptr ? options_.own_peers->Get() : *kNone;
}

uint64_t Job::UploadedLocked() const {
  uint64_t total = departed_uploaded_;
  for (const auto& [worker, t] : transfers_) total = SaturatingAdd(total, t.uploaded);
  return total;
}

// --- messages the job delivers itself ----------------------------------------------------------

void Job::FlushOrdered() {
  // Taking the queue and delivering it under one lock keeps the delivery order the order in
  // which the messages were queued, whichever threads queued and flush them.
  absl::MutexLock deliver_lock(&deliver_mu_);
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    out.swap(ordered_);
  }
  if (!out.empty() && options_.deliver) options_.deliver(std::move(out));
}

void Job::QueueStartJobLocked(WorkerId to) {
  pb::CoordinatorMessage m;
  *m.mutable_start_job() = StartJobLocked();
  ordered_.emplace_back(to, std::move(m));
}

void Job::QueueStopJobLocked() {
  pb::CoordinatorMessage m;
  m.mutable_stop_job()->set_job_id(id_);
  ordered_.emplace_back(kAllWorkers, std::move(m));
}

void Job::QueueVerifiedLocked() {
  if (pending_verified_.empty()) return;
  pb::CoordinatorMessage m;
  pb::PiecesVerified* v = m.mutable_pieces_verified();
  v->set_job_id(id_);
  for (uint32_t piece : pending_verified_) v->add_pieces(piece);
  pending_verified_.clear();
  verified_sent_ = clock_->Now();
  // To every worker the job was started on (the server drops it for the others), the one
  // that delivered the pieces included: each announces them to its own peers.
  ordered_.emplace_back(kAllWorkers, std::move(m));
}

void Job::AddWorker(WorkerId worker) {
  {
    absl::MutexLock lock(&mu_);
    if (state_ == pb::FETCHING_METADATA) {
      QueueFetchMetadataLocked(worker);
    } else {
      const bool checking = state_ == pb::CHECKING && !checks_.done();
      if (state_ != pb::DOWNLOADING && state_ != pb::SEEDING && !checking) return;
      QueueStartJobLocked(worker);
    }
    // The newcomer may be the writer that a worker which refused lacked (it could not see
    // the folder and knew of no worker that could): offer those the job again.
    for (const auto& [id, why] : refused_) {
      let_go_.erase(id);
      QueueStartJobLocked(id);
    }
    refused_.clear();
  }
  FlushOrdered();
}

// --- the job's thread ---------------------------------------------------------------------

bool Job::ThreadShouldWake() const { return wake_ || finishing_ || IsTerminal(state_); }

void Job::Run() {
  if (magnet_) {
    {
      absl::MutexLock lock(&mu_);
      QueueFetchMetadataLocked(kAllWorkers);
    }
    FlushOrdered();
  } else {
    PlanCheck();
  }
  for (;;) {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &Job::ThreadShouldWake), options_.poll);
      wake_ = false;
      if (finishing_ && !IsTerminal(state_)) {
        finish = true;
      } else if (IsTerminal(state_)) {
        LeaveSwarmLocked();
        // Every "stopped" is out (or given up); with no tracker there was nothing to say.
        if (schedule_.empty() || options_.tracker == nullptr) break;
      } else if (AnnouncesActive()) {
        const absl::Time now = clock_->Now();
        schedule_.SetIdentities(IdentitiesLocked(), now);
        // Every peer tried and none held: waiting out the tracker's interval (30 min, often)
        // would stall the download, so ask again as soon as the tracker allows.
        if ((state_ == pb::DOWNLOADING || state_ == pb::FETCHING_METADATA) &&
            OutOfPeersLocked(now) && schedule_.WantPeers(now)) {
          Log("no peer left to try: announcing early for more");
        }
      }
    }
    if (finish) {
      Finish();
    } else {
      RunDueAnnounces();
      SaveResume(/*now_or_never=*/false);
    }
  }
  bool record = false;
  {
    absl::MutexLock lock(&mu_);
    record = !options_.resume_path.empty() && checked_;
  }
  if (record) {
    // What a worker still writes after the stamps are taken would cost a check next time:
    // wait (a little) until they have all let go.
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &Job::WorkersLetGo), options_.stop_ack_timeout);
  }
  SaveResume(/*now_or_never=*/true);
  files_.reset();  // no descriptors held by a job that is over
}

bool Job::WorkersLetGo() const {
  if (destroying_) return true;
  for (const auto& [id, w] : workers_) {
    if (!let_go_.contains(id)) return false;
  }
  return true;
}

void Job::SaveResume(bool now_or_never) {
  if (options_.resume_path.empty()) return;
  const absl::Time now = absl::Now();  // real time: a record is about the real disk
  if (!now_or_never && now < next_resume_save_) return;
  ResumeRecord record;
  {
    absl::MutexLock lock(&mu_);
    // Until every piece on disk has been looked at, the verified set says nothing about the
    // rest: recorded, they would be taken for missing.
    if (!checked_) return;
    record.verified = ledger_.VerifiedBitfield();
  }
  next_resume_save_ = now + options_.resume_interval;
  record.info_hash = std::string(bt::AsBytes(metainfo_.info_hash));
  record.output_dir = output_dir_;
  record.files = files_->StampNow();
  std::string bytes = EncodeResumeRecord(record);
  if (bytes == saved_record_) return;
  // What the record vouches for must be on disk before the record is: after a power loss a
  // file may keep its new mtime and lose its unwritten pages. (fdatasync leaves the mtime.)
  if (const absl::Status synced = files_->Sync(); !synced.ok()) {
    Log(absl::StrCat("not saving the resume record: syncing the files: ", synced.message()));
    return;
  }
  // Stamped again: a write since the first stamp shows in the record (its piece is not in it).
  record.files = files_->StampNow();
  bytes = EncodeResumeRecord(record);
  const absl::Status saved = SaveResumeRecord(options_.resume_path, record);
  if (!saved.ok()) {
    // Not worth failing a download for: the next start checks the data instead.
    Log(absl::StrCat("cannot save the resume record: ", saved.message()));
    return;
  }
  saved_record_ = std::move(bytes);
}

void Job::PlanCheck() {
  // Read without a lock: the record and the stamps are the job's own.
  const absl::StatusOr<ResumeRecord> record = options_.resume_path.empty()
                                                  ? absl::NotFoundError("no state folder")
                                                  : LoadResumeRecord(options_.resume_path);
  const ResumePlan plan =
      PlanResume(metainfo_, output_dir_, files_->found(), record, options_.recheck);
  if (!plan.had_record) SaveFirstRecord(plan.foreign);
  {
    absl::MutexLock lock(&mu_);
    if (state_ != pb::CHECKING) return;  // cancelled
    Log(plan.summary);
    foreign_ = plan.foreign;
    const bt::Bitfield& v = plan.verified;
    for (uint32_t p = v.NextSet(0); p < v.size(); p = v.NextSet(p + 1)) {
      ledger_.MarkVerified(p).IgnoreError();
    }
    checks_.Add(plan.to_check);
    if (checks_.done()) {
      EndCheckLocked(nullptr);
    } else {
      // The workers check; each asks for pieces (RequestChecks) as it has room.
      Log(absl::StrCat("the workers check ", checks_.remaining(), " pieces"));
      last_check_activity_ = clock_->Now();
      QueueStartJobLocked(kAllWorkers);
    }
  }
  FlushOrdered();
}

void Job::SaveFirstRecord(const std::vector<bool>& foreign) {
  if (options_.resume_path.empty() || options_.mode == pb::SEED) return;
  ResumeRecord record;
  record.info_hash = std::string(bt::AsBytes(metainfo_.info_hash));
  record.output_dir = output_dir_;
  record.verified = bt::Bitfield(metainfo_.num_pieces());
  record.files = files_->StampNow();
  for (size_t i = 0; i < record.files.size() && i < foreign.size(); ++i) {
    if (foreign[i]) record.files[i] = storage::FileStamp();
  }
  if (const absl::Status saved = SaveResumeRecord(options_.resume_path, record); !saved.ok()) {
    Log(absl::StrCat("cannot save the resume record: ", saved.message()));
  }
}

const bt::FileEntry* Job::ForeignFileOf(uint32_t p) const {
  for (const bt::FileSlice& s : metainfo_.PieceFiles(p)) {
    if (s.file_index < foreign_.size() && foreign_[s.file_index]) {
      return &metainfo_.files[s.file_index];
    }
  }
  return nullptr;
}

void Job::EndCheckLocked(Outbox* out) {
  checked_ = true;
  QueueVerifiedLocked();
  const uint32_t n = metainfo_.num_pieces();
  const uint32_t missing = n - ledger_.verified_pieces();
  Log(absl::StrCat(n - missing, " of ", n, " pieces verified, ", missing, " to fetch"));
  const absl::Time now = clock_->Now();
  upload_rate_.Reset(now, UploadedLocked());
  if (missing == 0 && options_.mode == pb::DOWNLOAD) {
    // All there already: nothing to fetch, nothing to announce; the thread syncs and ends.
    finishing_ = true;
    wake_ = true;
    return;
  }
  if (missing == 0) {
    EnterSeedingLocked();
  } else if (options_.mode == pb::SEED) {
    Fail(absl::StrCat("the data does not match the torrent: ", missing, " of ", n,
                      " pieces missing or corrupt"));
  } else {
    state_ = pb::DOWNLOADING;
    wake_ = true;
    download_rate_.Reset(now, ledger_.verified_bytes());
    QueueStartJobLocked(kAllWorkers);
    // Requests that came while the data was being checked.
    if (out != nullptr) ServeAll(now, out);
  }
}

void Job::ServeChecks(JobWorker& w, absl::Time now, Outbox* out) {
  if (w.want_checks == 0 || !w.info.sees_output) return;
  const std::vector<uint32_t> pieces = checks_.Grant(w.info.id, w.want_checks, now);
  if (pieces.empty()) return;
  w.want_checks -= static_cast<uint32_t>(pieces.size());
  last_check_activity_ = now;
  pb::CoordinatorMessage m;
  pb::CheckPieces* c = m.mutable_check_pieces();
  c->set_job_id(id_);
  c->mutable_pieces()->Add(pieces.begin(), pieces.end());
  out->emplace_back(w.info.id, std::move(m));
}

void Job::OnRequestChecks(const WorkerInfo& worker, const pb::RequestChecks& request, Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (state_ != pb::CHECKING || !worker.sees_output || refused_.contains(worker.id)) return;
  JobWorker& w = Worker(worker);
  w.want_checks = std::min(request.max_pieces(), options_.max_checks_per_request);
  ServeChecks(w, clock_->Now(), out);
}

void Job::OnPiecesChecked(const WorkerInfo& worker, const pb::PiecesChecked& checked, Outbox* out) {
  bool flush = false;
  {
    absl::MutexLock lock(&mu_);
    if (state_ != pb::CHECKING) return;
    const absl::Time now = clock_->Now();
    last_check_activity_ = now;
    for (uint32_t p : checked.verified()) {
      if (checks_.Finish(worker.id, p, now) && ledger_.MarkVerified(p).ok()) {
        pending_verified_.push_back(p);
      }
    }
    // Missing pieces simply stay NEEDED.
    for (uint32_t p : checked.missing()) checks_.Finish(worker.id, p, now);
    // So do pieces holding other data, in files of this download (a half-written piece) or
    // that the user asked to overwrite; in a file someone else put there they stop the job.
    for (uint32_t p : checked.differing()) {
      checks_.Finish(worker.id, p, now);
      const bt::FileEntry* file =
          options_.mode == pb::SEED || options_.overwrite ? nullptr : ForeignFileOf(p);
      if (file == nullptr) continue;
      Fail(absl::StrCat(file->RelativePath(),
                        " already exists and holds other data than the torrent's (piece ", p,
                        " does not match): it is not this torrent's download, so it is left "
                        "alone. Move it away, or ask to overwrite it"));
      flush = true;
      break;
    }
    if (state_ == pb::CHECKING &&
        pending_verified_.size() >= std::max<size_t>(options_.verified_batch, 1)) {
      QueueVerifiedLocked();
      flush = true;
    }
    if (state_ == pb::CHECKING && checks_.done()) {
      EndCheckLocked(out);
      flush = true;
    }
  }
  if (flush) FlushOrdered();
}

void Job::OnJobStopped(const WorkerInfo& worker) {
  absl::MutexLock lock(&mu_);
  let_go_.insert(worker.id);
}

void Job::EnterSeedingLocked() {
  state_ = pb::SEEDING;
  finishing_ = false;
  wake_ = true;
  for (auto& [id, w] : workers_) w.want_pieces = 0;
  Log(absl::StrCat("seeding ", ledger_.verified_pieces(), " pieces"));
  // The workers that have the job already keep it (the server sends one StartJob per worker
  // and job); the others start it now, with every piece verified.
  QueueStartJobLocked(kAllWorkers);
}

void Job::Finish() {
  const absl::Status synced = files_->Sync();
  {
    absl::MutexLock lock(&mu_);
    if (IsTerminal(state_)) {
      // Ended meanwhile (the job is being destroyed): nothing more to say.
    } else if (!synced.ok()) {
      Fail(absl::StrCat("syncing the output files: ", synced.message()));
    } else {
      const absl::Time now = clock_->Now();
      QueueVerifiedLocked();  // the last pieces, before anything else
      schedule_.Complete(now);
      if (options_.mode == pb::DOWNLOAD) {
        state_ = pb::COMPLETE;
        Log("complete");
        QueueStopJobLocked();
      } else if (cancel_after_finish_) {
        state_ = pb::CANCELLED;
        Log("complete, and cancelled");
        QueueStopJobLocked();
      } else {
        Log("complete");
        EnterSeedingLocked();
      }
    }
    wake_ = true;
  }
  FlushOrdered();
}

// --- worker messages ----------------------------------------------------------------------

bool Job::Active() const { return state_ == pb::DOWNLOADING && !finishing_; }

bool Job::Serving() const {
  return Active() || state_ == pb::SEEDING || state_ == pb::FETCHING_METADATA;
}

Job::JobWorker& Job::Worker(const WorkerInfo& info) {
  JobWorker& w = workers_[info.id];
  w.info = info;
  return w;
}

void Job::Serve(JobWorker& w, absl::Time now, Outbox* out) {
  const WorkerId id = w.info.id;
  if (w.want_peers > 0) {
    const std::shared_ptr<const OwnPeers::Snapshot> own = Own();
    // Each worker holds at most its share of the job's peers, so that the first worker to
    // ask does not take them all and leave the others idle (and alone with every buffer).
    const size_t workers = TakingPartLocked();
    size_t cap = (pool_.known() + workers - 1) / workers;
    // A worker alone on its host shares peers with workers on other hosts (PeerPool::Take),
    // so it takes nothing from them by holding every peer: each swarm peer then feeds every
    // such worker, and with fewer peers than workers none is left with a single peer.
    if (!w.info.host.empty() && AloneOnHostLocked(w)) cap = pool_.known();
    if (w.info.max_peers > 0) cap = std::min<size_t>(cap, w.info.max_peers);
    const size_t held = pool_.assigned_to_worker(id);
    const uint32_t room =
        held >= cap ? 0 : static_cast<uint32_t>(std::min<size_t>(w.want_peers, cap - held));
    if (room > 0) {
      // Never a worker's own address, nor another of our workers: trackers list them too.
      const std::vector<bt::Endpoint> peers = pool_.Take(id, room, now, own->keys, w.info.host);
      if (!peers.empty()) {
        pb::CoordinatorMessage m;
        pb::AddPeers* add = m.mutable_add_peers();
        add->set_job_id(id_);
        for (const bt::Endpoint& p : peers) {
          pb::PeerAddress* a = add->add_peers();
          a->set_ip(p.ip().ToString());
          a->set_port(p.port());
        }
        w.want_peers -= static_cast<uint32_t>(peers.size());
        out->emplace_back(id, std::move(m));
      }
    }
  }
  if (Active() && w.want_pieces > 0 && w.info.sees_output && !w.peers.empty()) {
    const std::vector<LeaseGrant> grants = ledger_.Grant(id, w.want_pieces, now);
    if (!grants.empty()) {
      pb::CoordinatorMessage m;
      pb::GrantLeases* g = m.mutable_grant_leases();
      g->set_job_id(id_);
      const uint32_t ttl_ms =
          static_cast<uint32_t>(absl::ToInt64Milliseconds(options_.ledger.lease_ttl));
      for (const LeaseGrant& grant : grants) {
        pb::Lease* lease = g->add_leases();
        lease->set_piece(grant.piece);
        lease->set_ttl_ms(ttl_ms);
        lease->set_endgame(grant.endgame);
      }
      w.want_pieces -= static_cast<uint32_t>(grants.size());
      out->emplace_back(id, std::move(m));
    }
  }
}

void Job::ServeAll(absl::Time now, Outbox* out) {
  if (workers_.empty()) return;
  // Start after the worker served first last time, so that no worker always goes first when
  // there is not enough for everyone.
  auto start = workers_.upper_bound(serve_cursor_);
  if (start == workers_.end()) start = workers_.begin();
  serve_cursor_ = start->first;
  auto it = start;
  do {
    JobWorker& w = it->second;
    if (w.want_peers > 0 || w.want_pieces > 0) Serve(w, now, out);
    if (++it == workers_.end()) it = workers_.begin();
  } while (it != start);
}

void Job::Revoke(WorkerId worker, std::vector<uint32_t> pieces, Outbox* out) const {
  if (pieces.empty()) return;
  pb::CoordinatorMessage m;
  pb::RevokeLeases* r = m.mutable_revoke_leases();
  r->set_job_id(id_);
  for (uint32_t p : pieces) r->add_pieces(p);
  out->emplace_back(worker, std::move(m));
}

void Job::ForgetPeerEverywhere(const std::string& key) {
  for (auto& [id, w] : workers_) {
    if (w.peers.erase(key) > 0) ledger_.RemovePeer(id, key);
  }
}

void Job::Fail(std::string error) {
  if (IsTerminal(state_)) return;
  Log(absl::StrCat("failed: ", error));
  state_ = pb::FAILED;
  error_ = std::move(error);
  wake_ = true;
  LeaveSwarmLocked();
  QueueStopJobLocked();
}

void Job::OnRequestWork(const WorkerInfo& worker, const pb::RequestWork& request, Outbox* out) {
  absl::MutexLock lock(&mu_);
  const bool checking = state_ == pb::CHECKING;
  if ((!Serving() && !checking) || refused_.contains(worker.id)) return;
  JobWorker& w = Worker(worker);
  w.want_pieces = (Active() || checking) && worker.sees_output
                      ? std::min(request.max_pieces(), options_.max_pieces_per_request)
                      : 0;
  w.want_peers = std::min(request.max_peers(), options_.max_peers_per_request);
  // While the data is checked the request waits; the check's end serves it.
  if (!checking) Serve(w, clock_->Now(), out);
}

void Job::OnPiecesDone(const WorkerInfo& worker, const pb::PiecesDone& done, Outbox* out) {
  bool flush = false;
  {
    absl::MutexLock lock(&mu_);
    if (!Active()) return;
    for (const pb::PiecesDone::Piece& piece : done.pieces()) {
      absl::StatusOr<std::vector<WorkerId>> losers = ledger_.PieceDone(worker.id, piece.index());
      if (!losers.ok()) continue;  // a late or bogus report: the ledger is unchanged
      write_errors_in_a_row_ = 0;
      for (WorkerId loser : *losers) Revoke(loser, {piece.index()}, out);
      pending_verified_.push_back(piece.index());
      if (pending_verified_.size() >= std::max<size_t>(options_.verified_batch, 1)) {
        QueueVerifiedLocked();
        flush = true;
      }
    }
    if (ledger_.complete()) {
      finishing_ = true;
      wake_ = true;
    }
  }
  if (flush) FlushOrdered();
}

void Job::OnPieceFailed(const WorkerInfo& worker, const pb::PieceFailed& failed, Outbox* out) {
  {
    absl::MutexLock lock(&mu_);
    if (!Active()) return;
    FailReason reason = FailReason::kAbandoned;
    if (failed.reason() == pb::HASH_MISMATCH) reason = FailReason::kHashMismatch;
    if (failed.reason() == pb::WRITE_ERROR) reason = FailReason::kWriteError;
    if (!ledger_.PieceFailed(worker.id, failed.piece(), reason).ok()) return;
    if (reason == FailReason::kHashMismatch && failed.has_peer()) {
      const std::string key = PeerKey(failed.peer());
      if (!key.empty() && pool_.RecordBadPiece(key)) {
        Log(absl::StrCat("banned peer ", key, " after bad pieces"));
        ForgetPeerEverywhere(key);
      }
    }
    if (reason != FailReason::kWriteError ||
        ++write_errors_in_a_row_ < options_.max_write_errors_in_a_row) {
      ServeAll(clock_->Now(), out);
      return;
    }
    Fail(absl::StrCat("writing pieces failed ", write_errors_in_a_row_,
                      " times in a row; last: ", Truncate(failed.detail())));
  }
  FlushOrdered();
}

void Job::OnPeerBitfield(const WorkerInfo& worker, const pb::PeerBitfield& bitfield, Outbox* out) {
  absl::MutexLock lock(&mu_);
  // While CHECKING, a peer that connected to a worker already counts for availability (it
  // sends its bitfield once); leases wait for the check's end.
  const bool checking = state_ == pb::CHECKING;
  if ((!Serving() && !checking) || refused_.contains(worker.id)) return;
  const std::string key = PeerKey(bitfield.peer());
  if (key.empty()) return;
  const absl::Time now = clock_->Now();
  if (pool_.IsBanned(key)) return;
  if (!Active() &&
      !checking) {  // seeding: what peers have no longer matters, only that they connect
    pool_.MarkConnected(key);
    return;
  }
  absl::StatusOr<bt::Bitfield> have =
      bt::Bitfield::FromBytes(bitfield.bitfield(), metainfo_.num_pieces());
  if (!have.ok()) return;
  JobWorker& w = Worker(worker);
  if (!ledger_.SetPeerBitfield(worker.id, key, *have).ok()) return;
  w.peers.insert(key);
  pool_.MarkConnected(key);
  if (!checking) Serve(w, now, out);
}

void Job::OnPeerHave(const WorkerInfo& worker, const pb::PeerHave& have, Outbox* out) {
  absl::MutexLock lock(&mu_);
  const bool checking = state_ == pb::CHECKING;
  if ((!Active() && !checking) || refused_.contains(worker.id)) return;
  const std::string key = PeerKey(have.peer());
  if (key.empty()) return;
  const absl::Time now = clock_->Now();
  if (pool_.IsBanned(key)) return;
  JobWorker& w = Worker(worker);
  for (uint32_t piece : have.pieces()) ledger_.AddPeerHave(worker.id, key, piece).IgnoreError();
  if (ledger_.HasPeer(worker.id, key)) w.peers.insert(key);
  if (!checking) Serve(w, now, out);
}

void Job::OnPeersLearned(const WorkerInfo& worker, const pb::PeersLearned& learned, Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (!Serving() || magnet_) return;
  // The telling peer stands where a tracker would: loopback or private peers only from one
  // that is there itself.
  absl::StatusOr<bt::IpAddress> source = bt::IpAddress::Parse(learned.source().ip());
  if (!source.ok()) return;
  const std::shared_ptr<const OwnPeers::Snapshot> own = Own();
  std::vector<bt::Endpoint> peers;
  for (const pb::PeerAddress& p : learned.peers()) {
    if (peers.size() == 2 * bt::kMaxPexPeers) break;
    absl::StatusOr<bt::Endpoint> addr = bt::Endpoint::Make(p.ip(), p.port());
    if (!addr.ok() || !bt::IsDialablePeer(addr->ip(), *source)) continue;
    if (own->keys.contains(addr->ToString())) continue;
    peers.push_back(*std::move(addr));
  }
  const size_t added = pool_.Add(peers);
  if (added == 0) return;
  Log(absl::StrCat("worker ", worker.id, " learned ", added, " new peers from ",
                   PeerKey(learned.source()), " (peer exchange)"));
  ServeAll(clock_->Now(), out);
}

void Job::OnPeerClosed(const WorkerInfo& worker, const pb::PeerClosed& closed, Outbox* out) {
  absl::MutexLock lock(&mu_);
  const std::string key = PeerKey(closed.peer());
  if (key.empty()) return;
  auto it = workers_.find(worker.id);
  if (it != workers_.end() && it->second.peers.erase(key) > 0) {
    ledger_.RemovePeer(worker.id, key);
  }
  if (closed.banned()) {
    Log(absl::StrCat("worker ", worker.id, " banned peer ", key,
                     closed.misbehaved() ? " (and its address)" : "", ": ",
                     absl::CHexEscape(Truncate(closed.reason()))));
    if (closed.misbehaved()) {
      pool_.BanAddress(key);
    } else {
      pool_.Ban(key);
    }
    ForgetPeerEverywhere(key);
  } else {
    pool_.Release(worker.id, key, clock_->Now());
  }
}

void Job::OnLeaseProgress(const WorkerInfo& worker, const pb::Heartbeat::LeaseProgress& progress) {
  absl::MutexLock lock(&mu_);
  if (!Active()) return;
  ledger_.Renew(worker.id, progress.piece(), progress.bytes_received(), clock_->Now())
      .IgnoreError();
}

void Job::OnTransfer(const WorkerInfo& worker, const pb::Heartbeat::JobTransfer& transfer) {
  absl::MutexLock lock(&mu_);
  if (IsTerminal(state_)) return;
  Transfer& t = transfers_[worker.id];
  if (t.gone) return;
  t.uploaded = transfer.uploaded_bytes();
  t.downloaded = transfer.downloaded_bytes();
  t.upload_peers = transfer.upload_peers();
}

void Job::RemoveWorker(WorkerId worker, Outbox* out) {
  absl::MutexLock lock(&mu_);
  refused_.erase(worker);
  ReleaseWorkerLocked(worker, out);
}

void Job::OnJobRefused(const WorkerInfo& worker, const pb::JobRefused& refused, Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (refused_.contains(worker.id)) return;
  const std::string reason = Truncate(refused.reason());
  Log(absl::StrCat("worker ", worker.id, " (", Truncate(worker.name, 64),
                   ") cannot take part: ", reason));
  refused_[worker.id] = {Truncate(worker.name, 64), reason};
  let_go_.insert(worker.id);  // it holds none of the job's files: nothing to wait for
  ReleaseWorkerLocked(worker.id, out);
}

bool Job::AloneOnHostLocked(const JobWorker& w) const {
  const std::shared_ptr<const OwnPeers::Snapshot> own = Own();
  auto it = own->workers_per_host.find(w.info.host);
  return it == own->workers_per_host.end() || it->second <= 1;
}

size_t Job::TakingPartLocked() const {
  const size_t connected = Own()->output_workers;
  return std::max<size_t>(1, connected > refused_.size() ? connected - refused_.size() : 0);
}

void Job::ReleaseWorkerLocked(WorkerId worker, Outbox* out) {
  auto it = workers_.find(worker);
  if (it != workers_.end()) {
    // Its peers leave the ledger with its leases, in ReleaseWorker below.
    workers_.erase(it);
  }
  // Its uploads stay counted; the entry goes once its "stopped" announce is out (Tick).
  if (auto t = transfers_.find(worker); t != transfers_.end()) {
    t->second.gone = true;
    t->second.upload_peers = 0;
  }
  ledger_.ReleaseWorker(worker);
  pool_.ReleaseWorker(worker);
  checks_.ReleaseWorker(worker);
  if (Serving()) ServeAll(clock_->Now(), out);
  if (state_ == pb::CHECKING) {
    for (auto& [id, w] : workers_) ServeChecks(w, clock_->Now(), out);
  }
}

// --- periodic work, cancel, progress --------------------------------------------------------

void Job::Tick(Outbox* out) {
  bool flush = false;
  {
    absl::MutexLock lock(&mu_);
    if (IsTerminal(state_)) return;
    const absl::Time now = clock_->Now();
    if (!pending_verified_.empty() && now - verified_sent_ >= options_.verified_interval) {
      QueueVerifiedLocked();
      flush = true;
    }
    if (state_ == pb::CHECKING) {
      // Lapsed checks go to whoever waits for more.
      if (checks_.Expire(now) > 0) {
        for (auto& [id, w] : workers_) ServeChecks(w, now, out);
      }
      // Workers there, and none takes a check (none can open the files): fetching the
      // pieces beats waiting for ever; those on disk are only fetched again.
      if (!checks_.done() && checks_.held() == 0 && Own()->output_workers > refused_.size() &&
          now - last_check_activity_ >= options_.check_ttl) {
        Log(absl::StrCat("no worker has checked any piece for ",
                         absl::FormatDuration(options_.check_ttl), ": fetching the ",
                         checks_.remaining(), " unchecked pieces instead"));
        EndCheckLocked(out);
        flush = true;
      }
    } else {
      for (auto it = transfers_.begin(); it != transfers_.end();) {
        if (it->second.gone && !schedule_.Has(it->first)) {
          departed_uploaded_ = SaturatingAdd(departed_uploaded_, it->second.uploaded);
          it = transfers_.erase(it);
        } else {
          ++it;
        }
      }
      upload_rate_.Add(now, UploadedLocked());
      if (Active()) {
        std::map<WorkerId, std::vector<uint32_t>> revoked;
        for (const ExpiredLease& e : ledger_.ExpireLeases(now)) {
          revoked[e.worker].push_back(e.piece);
        }
        for (auto& [worker, pieces] : revoked) Revoke(worker, std::move(pieces), out);
        download_rate_.Add(now, ledger_.verified_bytes());
      }
      if (Serving()) ServeAll(now, out);
    }
  }
  if (flush) FlushOrdered();
}

void Job::Cancel() {
  {
    absl::MutexLock lock(&mu_);
    if (IsTerminal(state_)) return;
    if (finishing_) {
      // A DOWNLOAD job completes anyway; one that would seed stops once its files are synced.
      if (options_.mode != pb::DOWNLOAD) cancel_after_finish_ = true;
      return;
    }
    Log("cancelled");
    state_ = pb::CANCELLED;
    wake_ = true;
    LeaveSwarmLocked();
    QueueStopJobLocked();
  }
  FlushOrdered();
}

pb::JobProgress Job::Progress(uint32_t workers) const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  pb::JobProgress p;
  p.set_job_id(id_);
  p.set_state(state_);
  // A magnet link's job knows nothing of its size yet (its ledger is a stand-in).
  if (!magnet_) {
    p.set_verified_bytes(ledger_.verified_bytes());
    p.set_total_bytes(metainfo_.total_length);
    p.set_verified_pieces(ledger_.verified_pieces());
    p.set_num_pieces(ledger_.num_pieces());
  }
  p.set_name(metainfo_.name);
  const double rate =
      state_ == pb::DOWNLOADING ? download_rate_.Rate(now, ledger_.verified_bytes()) : 0;
  p.set_rate_bytes_per_s(rate);
  p.set_known_peers(static_cast<uint32_t>(pool_.known()));
  p.set_banned_peers(static_cast<uint32_t>(pool_.banned()));
  p.set_assigned_peers(static_cast<uint32_t>(pool_.assigned()));
  p.set_workers(workers > refused_.size() ? workers - static_cast<uint32_t>(refused_.size()) : 0);
  for (const auto& [id, why] : refused_) {
    pb::RefusedWorker* r = p.add_refused_workers();
    r->set_name(why.first);
    r->set_reason(why.second);
  }
  const uint64_t missing = ledger_.missing_bytes();
  p.set_eta_s(missing == 0 ? 0 : rate > 0 ? static_cast<double>(missing) / rate : -1);
  p.set_hash_failures(ledger_.hash_failures());
  p.set_error(!error_.empty() ? error_ : tracker_error_);
  const uint64_t uploaded = UploadedLocked();
  p.set_uploaded_bytes(uploaded);
  const bool moving = state_ == pb::DOWNLOADING || state_ == pb::SEEDING;
  p.set_upload_rate_bytes_per_s(moving ? upload_rate_.Rate(now, uploaded) : 0);
  uint64_t upload_peers = 0;
  for (const auto& [worker, t] : transfers_) upload_peers += t.gone ? 0 : t.upload_peers;
  p.set_upload_peers(static_cast<uint32_t>(
      std::min<uint64_t>(upload_peers, std::numeric_limits<uint32_t>::max())));
  return p;
}

pb::JobState Job::WaitForStateChange(pb::JobState seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return state_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return state_;
}

}  // namespace swarm::coordinator
