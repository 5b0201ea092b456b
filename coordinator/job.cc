#include "coordinator/job.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bt/sha1.h"

namespace swarm::coordinator {
namespace {

using swarm::tracker::AnnounceEvent;

// Worker-supplied text that ends up in a JobProgress: bounded.
std::string Truncate(const std::string& s, size_t max = 200) {
  return s.size() <= max ? s : s.substr(0, max) + "...";
}

void Log(const std::string& job_id, const std::string& text) {
  std::fprintf(stderr, "coordinator: job %s: %s\n", job_id.substr(0, 12).c_str(), text.c_str());
}

const char* EventName(AnnounceEvent e) {
  switch (e) {
    case swarm::tracker::STARTED:
      return "started";
    case swarm::tracker::COMPLETED:
      return "completed";
    case swarm::tracker::STOPPED:
      return "stopped";
    default:
      return "regular";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Job>> Job::Create(std::string torrent, const std::string& output_dir,
                                                 Options options) {
  if (output_dir.empty() || output_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("output_dir must be an absolute path, got \"", output_dir, "\""));
  }
  absl::StatusOr<bt::Metainfo> metainfo = bt::ParseMetainfo(torrent);
  if (!metainfo.ok()) {
    // Whatever the parser's code, a torrent that does not parse is the caller's bad argument.
    return absl::InvalidArgumentError(absl::StrCat("bad torrent: ", metainfo.status().message()));
  }
  struct stat st;
  if (stat(output_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("output_dir \"", output_dir, "\" is not an existing folder"));
  }
  absl::StatusOr<std::unique_ptr<ContentFiles>> files =
      ContentFiles::Open(*metainfo, output_dir, ContentMode::kCreate);
  if (!files.ok()) {
    return absl::Status(files.status().code(),
                        absl::StrCat("creating the output files: ", files.status().message()));
  }
  return std::unique_ptr<Job>(new Job(std::move(torrent), *std::move(metainfo), output_dir,
                                      *std::move(files), std::move(options)));
}

Job::Job(std::string torrent, bt::Metainfo metainfo, std::string output_dir,
         std::unique_ptr<ContentFiles> files, Options options)
    : torrent_(std::move(torrent)),
      metainfo_(std::move(metainfo)),
      id_(bt::ToHex(metainfo_.info_hash)),
      output_dir_(std::move(output_dir)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()),
      files_(std::move(files)),
      ledger_(metainfo_.layout(), options_.ledger),
      pool_(options_.pool),
      retry_delay_(options_.announce_retry) {}

Job::~Job() {
  Outbox ignored;  // the server has stopped the job's workers already, or is going away
  Cancel(&ignored);
  Join();
}

void Job::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void Job::Join() {
  if (thread_.joinable()) thread_.join();
}

JobState Job::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

bool Job::IsTerminal(JobState state) {
  return state == COMPLETE || state == FAILED || state == CANCELLED;
}

StartJob Job::StartJobMessage() const {
  StartJob m;
  m.set_job_id(id_);
  m.set_output_dir(output_dir_);
  m.set_torrent_size(torrent_.size());
  return m;
}

PieceState Job::piece_state(uint32_t piece) const {
  absl::MutexLock lock(&mu_);
  return ledger_.state(piece);
}

std::string Job::LedgerKey(WorkerId worker, const std::string& peer_key) {
  return absl::StrCat(worker, "/", peer_key);
}

// --- the job's thread ---------------------------------------------------------------------

bool Job::ThreadShouldWake() const { return wake_ || finishing_ || IsTerminal(state_); }

bool Job::AnnounceDue(absl::Time now) const {
  return state_ == DOWNLOADING && !finishing_ && options_.tracker != nullptr &&
         !metainfo_.trackers.empty() && now >= next_announce_;
}

void Job::Run() {
  RunCheck();
  for (;;) {
    enum { kWait, kFinish, kAnnounce, kEnd } action = kWait;
    AnnounceEvent event = swarm::tracker::NONE;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &Job::ThreadShouldWake), options_.poll);
      wake_ = false;
      if (finishing_ && !IsTerminal(state_)) {
        action = kFinish;
      } else if (IsTerminal(state_)) {
        action = kEnd;
        event = state_ == COMPLETE ? swarm::tracker::COMPLETED : swarm::tracker::STOPPED;
        // Only a client the tracker has seen start says it completed or leaves.
        if (!started_announced_) event = swarm::tracker::NONE;
      } else if (AnnounceDue(clock_->Now())) {
        action = kAnnounce;
        event = next_event_;
      }
    }
    switch (action) {
      case kWait:
        break;
      case kFinish:
        Finish();
        break;
      case kAnnounce:
        Announce(event, options_.announce_timeout);
        break;
      case kEnd:
        if (event != swarm::tracker::NONE) Announce(event, options_.stopped_announce_timeout);
        files_.reset();  // no descriptors held by a job that is over
        return;
    }
  }
}

void Job::RunCheck() {
  const uint32_t n = metainfo_.num_pieces();
  std::string buffer;
  uint32_t found = 0;
  for (uint32_t piece = 0; piece < n; ++piece) {
    {
      absl::MutexLock lock(&mu_);
      if (state_ != CHECKING) return;  // cancelled
    }
    const absl::Status read = files_->ReadPiece(piece, &buffer);
    if (!read.ok()) {
      Outbox out;
      {
        absl::MutexLock lock(&mu_);
        Fail(absl::StrCat("reading piece ", piece, " while checking: ", read.message()), &out);
      }
      if (options_.deliver) options_.deliver(std::move(out));
      return;
    }
    if (bt::AsBytes(bt::Sha1(buffer)) == metainfo_.piece_hash(piece)) {
      absl::MutexLock lock(&mu_);
      if (ledger_.MarkVerified(piece).ok()) ++found;
    }
  }
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    if (state_ != CHECKING) return;
    Log(id_, absl::StrCat("checked ", n, " pieces, ", found, " already verified"));
    if (ledger_.complete()) {
      // All there already: nothing to fetch, nothing to announce; the thread syncs and ends.
      finishing_ = true;
      return;
    }
    const absl::Time now = clock_->Now();
    state_ = DOWNLOADING;
    next_event_ = swarm::tracker::STARTED;
    next_announce_ = now;
    rate_samples_.clear();
    rate_samples_.emplace_back(now, ledger_.verified_bytes());
    CoordinatorMessage m;
    *m.mutable_start_job() = StartJobMessage();
    out.emplace_back(kAllWorkers, std::move(m));
  }
  if (options_.deliver) options_.deliver(std::move(out));
}

void Job::Finish() {
  const absl::Status synced = files_->Sync();
  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    if (!synced.ok()) {
      Fail(absl::StrCat("syncing the output files: ", synced.message()), &out);
    } else {
      state_ = COMPLETE;
      Log(id_, "complete");
      CoordinatorMessage m;
      m.mutable_stop_job()->set_job_id(id_);
      out.emplace_back(kAllWorkers, std::move(m));
    }
    wake_ = true;
  }
  if (options_.deliver) options_.deliver(std::move(out));
}

void Job::Announce(AnnounceEvent event, absl::Duration timeout) {
  if (options_.tracker == nullptr || metainfo_.trackers.empty()) return;
  swarm::tracker::AnnounceRequest request;
  request.set_info_hash(std::string(bt::AsBytes(metainfo_.info_hash)));
  request.set_peer_id(options_.peer_id);
  request.set_event(event);
  request.set_key(options_.announce_key);
  request.set_numwant(event == swarm::tracker::STOPPED ? 0 : options_.numwant);
  request.set_timeout_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(timeout)));
  request.set_uploaded(0);
  for (const std::vector<std::string>& tier : metainfo_.trackers) {
    swarm::tracker::TrackerTier* t = request.add_tiers();
    for (const std::string& url : tier) t->add_urls(url);
  }
  {
    absl::MutexLock lock(&mu_);
    request.set_downloaded(ledger_.verified_bytes());
    request.set_left(ledger_.missing_bytes());
    for (const auto& [url, id] : tracker_ids_) (*request.mutable_tracker_ids())[url] = id;
  }
  request.set_port(options_.announce_port ? options_.announce_port() : 0);

  grpc::ClientContext ctx;
  // A little past the service's own budget, so that its answer (with its error text) wins.
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout + absl::Seconds(1)));
  {
    absl::MutexLock lock(&mu_);
    const bool final_event = event == swarm::tracker::STOPPED || event == swarm::tracker::COMPLETED;
    if (IsTerminal(state_) && !final_event) return;
    announce_ctx_ = &ctx;
  }
  swarm::tracker::AnnounceResponse response;
  const grpc::Status status = options_.tracker->Announce(&ctx, request, &response);

  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    announce_ctx_ = nullptr;
    const absl::Time now = clock_->Now();
    if (status.ok()) {
      std::vector<PeerAddr> peers;
      for (const swarm::tracker::Peer& p : response.peers()) {
        absl::StatusOr<PeerAddr> addr = MakePeerAddr(p.ip(), p.port());
        if (addr.ok() && !ledger_.IsBanned(addr->Key())) peers.push_back(*std::move(addr));
      }
      const size_t added = pool_.Add(peers);
      if (!response.tracker_id().empty()) {
        tracker_ids_[response.tracker_url()] = response.tracker_id();
      }
      if (event == swarm::tracker::STARTED) started_announced_ = true;
      next_event_ = swarm::tracker::NONE;
      absl::Duration interval =
          absl::Seconds(response.interval_s() > 0 ? response.interval_s() : 30 * 60);
      interval = std::max(
          {interval, absl::Seconds(response.min_interval_s()), options_.min_announce_interval});
      next_announce_ = now + interval;
      retry_delay_ = options_.announce_retry;
      tracker_error_ = response.warnings().empty()
                           ? std::string()
                           : Truncate(absl::StrCat("tracker warning: ", response.warnings(0)));
      Log(id_, absl::StrCat("announced (", EventName(event), ") to ", response.tracker_url(), ": ",
                            response.peers_size(), " peers, ", added, " new; next in ",
                            absl::FormatDuration(interval)));
      if (Active()) ServeAll(now, &out);
    } else {
      tracker_error_ = Truncate(absl::StrCat("announce failed: ", status.error_message()));
      next_announce_ = now + retry_delay_;
      Log(id_, absl::StrCat(tracker_error_, "; retry in ", absl::FormatDuration(retry_delay_)));
      retry_delay_ = std::min(retry_delay_ * 2, options_.max_announce_retry);
    }
  }
  if (options_.deliver && !out.empty()) options_.deliver(std::move(out));
}

// --- worker messages ----------------------------------------------------------------------

bool Job::Active() const { return state_ == DOWNLOADING && !finishing_; }

Job::JobWorker& Job::Worker(const WorkerInfo& info) {
  JobWorker& w = workers_[info.id];
  w.info = info;
  return w;
}

void Job::Serve(JobWorker& w, absl::Time now, Outbox* out) {
  const WorkerId id = w.info.id;
  if (w.want_peers > 0) {
    uint32_t room = w.want_peers;
    if (w.info.max_peers > 0) {
      const size_t held = pool_.assigned_to_worker(id);
      room = held >= w.info.max_peers
                 ? 0
                 : std::min<uint32_t>(room, w.info.max_peers - static_cast<uint32_t>(held));
    }
    if (room > 0) {
      absl::flat_hash_set<std::string> exclude;
      if (!w.info.self_key.empty()) exclude.insert(w.info.self_key);
      const std::vector<PeerAddr> peers = pool_.Take(id, room, now, exclude);
      if (!peers.empty()) {
        CoordinatorMessage m;
        AddPeers* add = m.mutable_add_peers();
        add->set_job_id(id_);
        for (const PeerAddr& p : peers) {
          PeerAddress* a = add->add_peers();
          a->set_ip(p.ip);
          a->set_port(p.port);
        }
        w.want_peers -= static_cast<uint32_t>(peers.size());
        out->emplace_back(id, std::move(m));
      }
    }
  }
  if (w.want_pieces > 0 && w.info.sees_output && !w.peers.empty()) {
    std::vector<std::string> keys;
    keys.reserve(w.peers.size());
    for (const std::string& p : w.peers) keys.push_back(LedgerKey(id, p));
    const std::vector<LeaseGrant> grants = ledger_.Grant(id, keys, w.want_pieces, now);
    if (!grants.empty()) {
      CoordinatorMessage m;
      GrantLeases* g = m.mutable_grant_leases();
      g->set_job_id(id_);
      const uint32_t ttl_ms =
          static_cast<uint32_t>(absl::ToInt64Milliseconds(options_.ledger.lease_ttl));
      for (const LeaseGrant& grant : grants) {
        Lease* lease = g->add_leases();
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
  CoordinatorMessage m;
  RevokeLeases* r = m.mutable_revoke_leases();
  r->set_job_id(id_);
  for (uint32_t p : pieces) r->add_pieces(p);
  out->emplace_back(worker, std::move(m));
}

void Job::ForgetPeerEverywhere(const std::string& key) {
  for (auto& [id, w] : workers_) {
    if (w.peers.erase(key) > 0) ledger_.RemovePeer(LedgerKey(id, key));
  }
}

void Job::Fail(std::string error, Outbox* out) {
  if (IsTerminal(state_)) return;
  Log(id_, absl::StrCat("failed: ", error));
  state_ = FAILED;
  error_ = std::move(error);
  wake_ = true;
  if (announce_ctx_ != nullptr) announce_ctx_->TryCancel();
  CoordinatorMessage m;
  m.mutable_stop_job()->set_job_id(id_);
  out->emplace_back(kAllWorkers, std::move(m));
}

void Job::OnRequestWork(const WorkerInfo& worker, const RequestWork& request, Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (!Active()) return;
  JobWorker& w = Worker(worker);
  w.want_pieces =
      worker.sees_output ? std::min(request.max_pieces(), options_.max_pieces_per_request) : 0;
  w.want_peers = std::min(request.max_peers(), options_.max_peers_per_request);
  Serve(w, clock_->Now(), out);
}

void Job::OnPieceDone(const WorkerInfo& worker, const PieceDone& done, Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (!Active()) return;
  absl::StatusOr<std::vector<WorkerId>> losers = ledger_.PieceDone(worker.id, done.piece());
  if (!losers.ok()) return;  // a late or bogus report: the ledger is unchanged
  write_errors_in_a_row_ = 0;
  for (WorkerId loser : *losers) Revoke(loser, {done.piece()}, out);
  if (ledger_.complete()) {
    finishing_ = true;
    wake_ = true;
  }
}

void Job::OnPieceFailed(const WorkerInfo& worker, const PieceFailed& failed, Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (!Active()) return;
  FailReason reason = FailReason::kAbandoned;
  if (failed.reason() == HASH_MISMATCH) reason = FailReason::kHashMismatch;
  if (failed.reason() == WRITE_ERROR) reason = FailReason::kWriteError;
  if (!ledger_.PieceFailed(worker.id, failed.piece(), reason).ok()) return;
  if (reason == FailReason::kHashMismatch && failed.has_peer()) {
    absl::StatusOr<PeerAddr> addr = MakePeerAddr(failed.peer().ip(), failed.peer().port());
    if (addr.ok() && ledger_.RecordBadPiece(addr->Key())) {
      Log(id_, absl::StrCat("banned peer ", addr->Key(), " after bad pieces"));
      pool_.Ban(addr->Key());
      ForgetPeerEverywhere(addr->Key());
    }
  }
  if (reason == FailReason::kWriteError &&
      ++write_errors_in_a_row_ >= options_.max_write_errors_in_a_row) {
    Fail(absl::StrCat("writing pieces failed ", write_errors_in_a_row_,
                      " times in a row; last: ", Truncate(failed.detail())),
         out);
    return;
  }
  ServeAll(clock_->Now(), out);
}

void Job::OnPeerBitfield(const WorkerInfo& worker, const PeerBitfield& bitfield, Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (!Active()) return;
  absl::StatusOr<PeerAddr> addr = MakePeerAddr(bitfield.peer().ip(), bitfield.peer().port());
  if (!addr.ok()) return;
  const std::string key = addr->Key();
  const absl::Time now = clock_->Now();
  if (ledger_.IsBanned(key) || pool_.state(key, now) == PeerState::kBanned) return;
  absl::StatusOr<bt::Bitfield> have =
      bt::Bitfield::FromBytes(bitfield.bitfield(), metainfo_.num_pieces());
  if (!have.ok()) return;
  JobWorker& w = Worker(worker);
  if (!ledger_.SetPeerBitfield(LedgerKey(worker.id, key), *have).ok()) return;
  w.peers.insert(key);
  pool_.MarkConnected(key);
  Serve(w, now, out);
}

void Job::OnPeerHave(const WorkerInfo& worker, const PeerHave& have, Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (!Active()) return;
  absl::StatusOr<PeerAddr> addr = MakePeerAddr(have.peer().ip(), have.peer().port());
  if (!addr.ok()) return;
  const std::string key = addr->Key();
  const absl::Time now = clock_->Now();
  if (ledger_.IsBanned(key) || pool_.state(key, now) == PeerState::kBanned) return;
  JobWorker& w = Worker(worker);
  const std::string ledger_key = LedgerKey(worker.id, key);
  for (uint32_t piece : have.pieces()) ledger_.AddPeerHave(ledger_key, piece).IgnoreError();
  if (ledger_.HasPeer(ledger_key)) w.peers.insert(key);
  Serve(w, now, out);
}

void Job::OnPeerClosed(const WorkerInfo& worker, const PeerClosed& closed, Outbox* out) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<PeerAddr> addr = MakePeerAddr(closed.peer().ip(), closed.peer().port());
  if (!addr.ok()) return;
  const std::string key = addr->Key();
  auto it = workers_.find(worker.id);
  if (it != workers_.end() && it->second.peers.erase(key) > 0) {
    ledger_.RemovePeer(LedgerKey(worker.id, key));
  }
  if (closed.banned()) {
    pool_.Ban(key);
    ForgetPeerEverywhere(key);
  } else {
    pool_.Release(worker.id, key, clock_->Now());
  }
}

void Job::OnLeaseProgress(const WorkerInfo& worker, const Heartbeat::LeaseProgress& progress) {
  absl::MutexLock lock(&mu_);
  if (!Active()) return;
  ledger_.Renew(worker.id, progress.piece(), progress.bytes_received(), clock_->Now())
      .IgnoreError();
}

void Job::RemoveWorker(WorkerId worker, Outbox* out) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(worker);
  if (it != workers_.end()) {
    for (const std::string& key : it->second.peers) ledger_.RemovePeer(LedgerKey(worker, key));
    workers_.erase(it);
  }
  ledger_.ReleaseWorker(worker);
  pool_.ReleaseWorker(worker);
  if (Active()) ServeAll(clock_->Now(), out);
}

// --- periodic work, cancel, progress --------------------------------------------------------

void Job::Tick(Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (!Active()) return;
  const absl::Time now = clock_->Now();
  std::map<WorkerId, std::vector<uint32_t>> revoked;
  for (const ExpiredLease& e : ledger_.ExpireLeases(now)) revoked[e.worker].push_back(e.piece);
  for (auto& [worker, pieces] : revoked) Revoke(worker, std::move(pieces), out);
  ServeAll(now, out);

  rate_samples_.emplace_back(now, ledger_.verified_bytes());
  // Keep the newest sample at or before the window's start, so the rate spans the window.
  while (rate_samples_.size() > 2 && rate_samples_[1].first <= now - options_.rate_window) {
    rate_samples_.pop_front();
  }
}

double Job::RateLocked(absl::Time now) const {
  if (rate_samples_.empty()) return 0;
  const auto& [t0, bytes0] = rate_samples_.front();
  const double seconds = absl::ToDoubleSeconds(now - t0);
  const uint64_t bytes = ledger_.verified_bytes();
  if (seconds <= 0 || bytes <= bytes0) return 0;
  return static_cast<double>(bytes - bytes0) / seconds;
}

void Job::Cancel(Outbox* out) {
  absl::MutexLock lock(&mu_);
  if (finishing_ || IsTerminal(state_)) return;
  Log(id_, "cancelled");
  state_ = CANCELLED;
  wake_ = true;
  if (announce_ctx_ != nullptr) announce_ctx_->TryCancel();
  CoordinatorMessage m;
  m.mutable_stop_job()->set_job_id(id_);
  out->emplace_back(kAllWorkers, std::move(m));
}

JobProgress Job::Progress(uint32_t workers) const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  JobProgress p;
  p.set_job_id(id_);
  p.set_state(state_);
  p.set_verified_bytes(ledger_.verified_bytes());
  p.set_total_bytes(metainfo_.total_length);
  p.set_verified_pieces(ledger_.verified_pieces());
  p.set_num_pieces(ledger_.num_pieces());
  const double rate = state_ == DOWNLOADING ? RateLocked(now) : 0;
  p.set_rate_bytes_per_s(rate);
  p.set_known_peers(static_cast<uint32_t>(pool_.known()));
  p.set_assigned_peers(static_cast<uint32_t>(pool_.assigned()));
  p.set_workers(workers);
  const uint64_t missing = ledger_.missing_bytes();
  p.set_eta_s(missing == 0 ? 0 : rate > 0 ? static_cast<double>(missing) / rate : -1);
  p.set_hash_failures(ledger_.hash_failures());
  p.set_error(!error_.empty() ? error_ : tracker_error_);
  return p;
}

JobState Job::WaitForStateChange(JobState seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return state_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return state_;
}

}  // namespace swarm::coordinator
