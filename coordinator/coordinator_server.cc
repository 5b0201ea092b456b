#include "coordinator/coordinator_server.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "bt/magnet.h"
#include "bt/metainfo.h"
#include "bt/peer_id.h"
#include "coordinator/job.h"
#include "coordinator/output_root.h"
#include "coordinator/own_peers.h"
#include "coordinator/saved_jobs.h"
#include "coordinator/worker_address.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/tracker.grpc.pb.h"
#include "rpc/auth_token.h"
#include "rpc/grpc_status.h"
#include "rpc/tls.h"
#include "rpc/token_source.h"

namespace swarm::coordinator {
namespace {

// Creates `dir` and its missing parents; the records say what the user downloads, so a
// folder made here is its owner's only.
absl::Status MakeStateDir(const std::string& dir) {
  if (dir.empty() || dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("the state folder must be an absolute path, got \"", dir, "\""));
  }
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string prefix = dir.substr(0, slash);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create the state folder ", prefix, ": ", std::strerror(errno)));
    }
    if (slash == std::string::npos) break;
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("state folder ", dir, " is not a folder"));
  }
  return absl::OkStatus();
}

// FetchTorrent's chunk: well under gRPC's 4 MiB message limit.
constexpr size_t kFetchChunk = 1 << 20;
// A worker that lets this many messages pile up unread is not keeping up: it is cut off
// (and its leases freed) rather than let the coordinator's memory grow without bound.
constexpr size_t kMaxQueuedMessages = 100'000;
// Workers missing this many heartbeat intervals in a row are dead.
constexpr int kMissedHeartbeats = 3;
// Distinct tracker_svc addresses that workers may name (Register.tracker_svc): each gets a
// channel kept for the server's life.
constexpr size_t kMaxTrackerStubs = 1024;

void Log(const std::string& text) { std::fprintf(stderr, "coordinator: %s\n", text.c_str()); }

const grpc::Status kUnauthenticated = rpc::WrongAuthToken();
// Largest message the server takes: gRPC's default, said out loud.
constexpr int kMaxMessageBytes = 4 << 20;

using WorkStream = grpc::ServerReaderWriter<pb::CoordinatorMessage, pb::WorkerMessage>;

// One connected worker's stream: what jobs need to know about it, and its outgoing queue.
// Shared by the worker's handler (its reader), its writer thread and the server; what the
// server alone tracks about the worker is in Service::Connected, under Service::mu_.
struct WorkerConn {
  // Set by the handler before the worker is published in Service::workers_, and never
  // changed after: read by any thread without a lock.
  WorkerInfo info;
  std::string name;
  std::string peer_id;
  // Where swarm peers reach it (port 0: it does not listen).
  WorkerAddress address;
  // Its PieceSink (Register.sink_address); empty: none.
  std::string sink_address;
  // The tracker_svc on its host that it is announced through (Service::tracker_stubs_), or
  // null: the coordinator's.
  pb::TrackerQuery::StubInterface* tracker_via = nullptr;
  grpc::ServerContext* ctx = nullptr;

  absl::Mutex out_mu;
  std::deque<pb::CoordinatorMessage> queue ABSL_GUARDED_BY(out_mu);
  bool writing ABSL_GUARDED_BY(out_mu) = false;
  bool closed ABSL_GUARDED_BY(out_mu) = false;
  std::thread writer;

  // False when closed or over the queue limit (the caller then cuts the worker off).
  bool Enqueue(pb::CoordinatorMessage m) {
    absl::MutexLock lock(&out_mu);
    if (closed || queue.size() >= kMaxQueuedMessages) return false;
    queue.push_back(std::move(m));
    return true;
  }

  // The stream's one writer.
  void WriteLoop(WorkStream* stream) {
    for (;;) {
      pb::CoordinatorMessage m;
      {
        absl::MutexLock lock(&out_mu);
        writing = false;
        auto ready = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(out_mu) { return closed || !queue.empty(); };
        out_mu.Await(absl::Condition(&ready));
        if (queue.empty()) return;  // closed and drained
        m = std::move(queue.front());
        queue.pop_front();
        writing = true;
      }
      if (!stream->Write(m)) {
        ctx->TryCancel();  // the reader notices and cleans up
        absl::MutexLock lock(&out_mu);
        writing = false;
        closed = true;
        queue.clear();
        return;
      }
    }
  }

  // Waits (bounded) until everything queued has been written.
  void Drain(absl::Duration timeout) {
    absl::MutexLock lock(&out_mu);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(out_mu) {
      return closed || (queue.empty() && !writing);
    };
    out_mu.AwaitWithTimeout(absl::Condition(&drained), timeout);
  }

  void CloseAndJoin() {
    {
      absl::MutexLock lock(&out_mu);
      closed = true;
    }
    if (writer.joinable()) writer.join();
  }
};

}  // namespace

class CoordinatorServer::Service final : public pb::Coordinator::Service {
 public:
  explicit Service(Options options)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {
    absl::BitGen gen;
    peer_id_ = bt::NewPeerId();
    announce_key_ = absl::Uniform<uint32_t>(gen);
    next_seed_ = absl::Uniform<uint64_t>(gen);
  }

  ~Service() override { StopTicker(); }

  absl::Status Init() {
    if (!options_.state_dir.empty()) SWARM_RETURN_IF_ERROR(MakeStateDir(options_.state_dir));
    if (!options_.tracker_address.empty()) {
      tracker_ =
          pb::TrackerQuery::NewStub(rpc::MakeChannel(options_.tracker_address, options_.tls));
    }
    ticker_ = std::thread([this] { TickLoop(); });
    if (KeepsJobs()) TakeUpSavedJobs();
    return absl::OkStatus();
  }

  bool KeepsJobs() const { return options_.keep_jobs && !options_.state_dir.empty(); }

  // The jobs a previous run saved; one that cannot be taken up is logged and left in place.
  void TakeUpSavedJobs() {
    for (const SavedJob& saved : LoadSavedJobs(options_.state_dir)) {
      pb::SubmitJobResponse response;
      absl::Status status = saved.error;
      if (status.ok()) status = DoSubmitJob(saved.request, &response);
      Log(status.ok() ? absl::StrCat("job ", response.job_id().substr(0, 12),
                                     ": taken up again from ", saved.path)
                      : absl::StrCat("cannot take up ", saved.path, ": ", status.message()));
    }
  }

  const std::string& peer_id() const { return peer_id_; }

  // Phase 1 of shutdown, before the gRPC server stops: no new work, jobs cancelled (their
  // threads send "stopped" and end), workers told and their queues flushed.
  void BeginShutdown() ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<std::shared_ptr<Job>> jobs;
    {
      absl::MutexLock lock(&mu_);
      shutting_down_ = true;
      for (auto& [id, job] : jobs_) jobs.push_back(job);
    }
    for (auto& job : jobs) job->Cancel();  // each delivers its StopJob itself
    for (auto& job : jobs) job->Join();
    StopTicker();
    std::vector<std::shared_ptr<WorkerConn>> workers;
    {
      absl::MutexLock lock(&mu_);
      for (auto& [id, w] : workers_) workers.push_back(w.conn);
    }
    const absl::Time deadline = absl::Now() + options_.shutdown_grace;
    for (auto& w : workers) w->Drain(std::max(absl::ZeroDuration(), deadline - absl::Now()));
    // Only workers still in workers_: a worker that left meanwhile may have its ServerContext
    // gone already (its handler removes it from workers_ before returning).
    absl::MutexLock lock(&mu_);
    for (auto& [id, w] : workers_) w.conn->ctx->TryCancel();
  }

  // Phase 2, after the gRPC server stopped: every handler has returned.
  void EndShutdown() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::flat_hash_map<std::string, std::shared_ptr<Job>> jobs;
    {
      absl::MutexLock lock(&mu_);
      jobs.swap(jobs_);
    }
    jobs.clear();  // joins any job thread still running (none: all were joined above)
  }

  // --- swarm-cli side ---

  // Every RPC but Work (whose Register message carries the token) checks the token in the
  // call's metadata: SubmitJob makes the coordinator create files, so it must not be open to
  // whoever reaches the port.
  grpc::Status SubmitJob(grpc::ServerContext* ctx, grpc::ServerReader<pb::SubmitJobRequest>* reader,
                         pb::SubmitJobResponse* response) override {
    if (!rpc::AuthTokenMatches(*ctx, options_.auth_token)) return kUnauthenticated;
    absl::StatusOr<pb::SubmitJobRequest> request = ReadSubmitJobParts(reader);
    if (!request.ok()) return rpc::ToGrpcStatus(request.status());
    return rpc::ToGrpcStatus(DoSubmitJob(*request, response));
  }

  grpc::Status WatchJob(grpc::ServerContext* ctx, const pb::WatchJobRequest* request,
                        grpc::ServerWriter<pb::JobProgress>* writer) override {
    if (!rpc::AuthTokenMatches(*ctx, options_.auth_token)) return kUnauthenticated;
    return rpc::ToGrpcStatus(DoWatchJob(ctx, *request, writer));
  }

  grpc::Status CancelJob(grpc::ServerContext* ctx, const pb::CancelJobRequest* request,
                         pb::CancelJobResponse*) override {
    if (!rpc::AuthTokenMatches(*ctx, options_.auth_token)) return kUnauthenticated;
    return rpc::ToGrpcStatus(DoCancelJob(*request));
  }

  // --- worker side ---

  grpc::Status Work(grpc::ServerContext* ctx, WorkStream* stream) override {
    return rpc::ToGrpcStatus(DoWork(ctx, stream));
  }

  grpc::Status FetchTorrent(grpc::ServerContext* ctx, const pb::FetchTorrentRequest* request,
                            pb::FetchTorrentResponse* response) override {
    if (!rpc::AuthTokenMatches(*ctx, options_.auth_token)) return kUnauthenticated;
    return rpc::ToGrpcStatus(DoFetchTorrent(*request, response));
  }

 private:
  // What the server tracks about one connected worker (an entry of workers_).
  struct Connected {
    std::shared_ptr<WorkerConn> conn;
    absl::Time last_seen;
    bool timed_out = false;
    bool cut_off = false;
    // Jobs it was sent StartJob for (and no StopJob since): keeps those messages one per job.
    absl::flat_hash_set<std::string> started_jobs;
  };

  // The request of a SubmitJob call, put together from its parts.
  static absl::StatusOr<pb::SubmitJobRequest> ReadSubmitJobParts(
      grpc::ServerReader<pb::SubmitJobRequest>* reader);
  absl::Status DoSubmitJob(const pb::SubmitJobRequest& request, pb::SubmitJobResponse* response)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The running job of torrent `id`, or a new one made by `make` (its files created, not
  // started yet) when there is none or its last run is over; `created` says which.
  using MakeJob = std::function<absl::StatusOr<std::unique_ptr<Job>>(Job::Options)>;
  absl::StatusOr<std::shared_ptr<Job>> FindOrCreateJob(const std::string& id,
                                                       const pb::SubmitJobRequest& request,
                                                       const bt::Sha1Digest& info_hash,
                                                       const MakeJob& make, bool* created)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A magnet link's job has its metadata: the job made of the torrent takes its place.
  void HandOverMagnet(const std::shared_ptr<Job>& magnet) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status DoWatchJob(grpc::ServerContext* ctx, const pb::WatchJobRequest& request,
                          grpc::ServerWriter<pb::JobProgress>* writer);
  absl::Status DoCancelJob(const pb::CancelJobRequest& request);
  absl::Status DoWork(grpc::ServerContext* ctx, WorkStream* stream) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status DoFetchTorrent(const pb::FetchTorrentRequest& request,
                              pb::FetchTorrentResponse* response);

  void HandleWorkerMessage(const WorkerConn& w, const pb::WorkerMessage& m);
  void RemoveWorker(const std::shared_ptr<WorkerConn>& w) ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<Job> FindJob(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<Job> FindJobLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues each message for its worker(s); never blocks on a stream.
  void Deliver(Outbox out) ABSL_LOCKS_EXCLUDED(mu_);
  // `w` is an entry of workers_.
  void Send(Connected& w, const pb::CoordinatorMessage& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the jobs which workers are ours (own_peers_), after a worker came or went.
  void PublishOwnPeersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t WorkerCount() ABSL_LOCKS_EXCLUDED(mu_);
  Job::Options JobOptions(const pb::SubmitJobRequest& request, const bt::Sha1Digest& info_hash)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void TickLoop() ABSL_LOCKS_EXCLUDED(mu_, tick_mu_);
  // A stub for the tracker_svc at `address`, made once and kept for the server's life (jobs
  // hold its pointer); null beyond kMaxTrackerStubs distinct addresses.
  pb::TrackerQuery::StubInterface* TrackerStubFor(const std::string& address)
      ABSL_LOCKS_EXCLUDED(mu_);
  // On the ticker's thread: a job that completed or failed is not taken up again.
  void ForgetIfOver(const Job& job);
  void StopTicker() ABSL_LOCKS_EXCLUDED(tick_mu_);

  const Options options_;
  Clock* const clock_;
  std::string peer_id_;
  uint32_t announce_key_ = 0;
  std::unique_ptr<pb::TrackerQuery::Stub> tracker_;
  // Our workers as swarm peers; read by every job (a leaf lock, see own_peers.h).
  OwnPeers own_peers_;

  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, std::shared_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
  // Info-hashes whose SubmitJob is creating the job's files right now, without mu_ held
  // (mkdir and preallocation may take long): another SubmitJob of the same torrent waits for
  // it, so that one torrent submitted twice at once makes one job.
  absl::flat_hash_set<std::string> creating_ ABSL_GUARDED_BY(mu_);
  // Magnet links' jobs still fetching their metadata: the request, for the job that follows.
  absl::flat_hash_map<std::string, pb::SubmitJobRequest> magnet_requests_ ABSL_GUARDED_BY(mu_);
  std::map<WorkerId, Connected> workers_ ABSL_GUARDED_BY(mu_);
  WorkerId next_worker_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_seed_ ABSL_GUARDED_BY(mu_) = 0;
  // Work streams whose Register has not come yet, and when they are ended (DoWork).
  absl::flat_hash_map<grpc::ServerContext*, absl::Time> awaiting_register_ ABSL_GUARDED_BY(mu_);

  absl::flat_hash_map<std::string, std::unique_ptr<pb::TrackerQuery::StubInterface>> tracker_stubs_
      ABSL_GUARDED_BY(mu_);

  absl::Mutex tick_mu_;
  bool stop_ticker_ ABSL_GUARDED_BY(tick_mu_) = false;
  // The ticker's own: the run of each job whose saved file it removed (a new run of the same
  // torrent is another Job).
  absl::flat_hash_map<std::string, const Job*> forgotten_;
  std::thread ticker_;
};

// --- plumbing ------------------------------------------------------------------------------

std::shared_ptr<Job> CoordinatorServer::Service::FindJob(const std::string& id) {
  absl::MutexLock lock(&mu_);
  return FindJobLocked(id);
}

std::shared_ptr<Job> CoordinatorServer::Service::FindJobLocked(const std::string& id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second;
}

void CoordinatorServer::Service::Send(Connected& w, const pb::CoordinatorMessage& m) {
  if (m.has_start_job() && !w.started_jobs.insert(m.start_job().job_id()).second) return;
  if (m.has_fetch_metadata() && !w.started_jobs.insert(m.fetch_metadata().job_id()).second) {
    return;
  }
  if (m.has_stop_job() && w.started_jobs.erase(m.stop_job().job_id()) == 0) return;
  // A worker not started on the job learns these pieces from its StartJob's bitfield.
  if (m.has_pieces_verified() && !w.started_jobs.contains(m.pieces_verified().job_id())) return;
  if (!w.conn->Enqueue(m) && !w.cut_off) {
    // Over the queue limit, or its stream broke (the writer closed the queue): either way
    // the worker is done; its handler cleans up once the cancelled stream ends.
    w.cut_off = true;
    Log(absl::StrCat("worker ", w.conn->info.id, " (", w.conn->name,
                     ") is not keeping up; cutting it off"));
    w.conn->ctx->TryCancel();
  }
}

void CoordinatorServer::Service::Deliver(Outbox out) {
  if (out.empty()) return;
  absl::MutexLock lock(&mu_);
  for (auto& [target, message] : out) {
    if (target == kAllWorkers) {
      for (auto& [id, w] : workers_) Send(w, message);
    } else if (auto it = workers_.find(target); it != workers_.end()) {
      Send(it->second, message);
    }
  }
}

void CoordinatorServer::Service::PublishOwnPeersLocked() {
  auto own = std::make_shared<OwnPeers::Snapshot>();
  for (const auto& [id, connected] : workers_) {
    const WorkerConn* w = connected.conn.get();
    // A writer only (max_peers 0: it takes no peers) takes no share of a job's peers.
    if (w->info.sees_output && w->info.max_peers > 0) ++own->output_workers;
    if (!w->sink_address.empty()) own->sinks.push_back(w->sink_address);
    if (!w->info.host.empty() && w->info.max_peers > 0) ++own->workers_per_host[w->info.host];
    if (!w->address.listens()) continue;
    if (!w->address.key.empty()) own->keys.insert(w->address.key);
    own->peer_ids.insert(w->peer_id);
    // A worker that cannot read the output has nothing to upload, and a writer only (no
    // peers) accepts none: not announced.
    if (!w->info.sees_output || w->info.max_peers == 0) continue;
    AnnounceIdentity who;
    who.worker = id;
    who.peer_id = w->peer_id;
    who.port = w->address.port;
    who.ip = w->address.announce_ip;
    who.via = w->tracker_via;
    own->announced.push_back(std::move(who));
  }
  own_peers_.Set(std::move(own));
}

uint32_t CoordinatorServer::Service::WorkerCount() {
  absl::MutexLock lock(&mu_);
  return static_cast<uint32_t>(workers_.size());
}

Job::Options CoordinatorServer::Service::JobOptions(const pb::SubmitJobRequest& request,
                                                    const bt::Sha1Digest& info_hash) {
  Job::Options o;
  o.mode = request.mode();
  o.max_announce_interval = absl::Seconds(request.max_announce_interval_s());
  o.clock = clock_;
  o.ledger.lease_ttl = options_.lease_ttl;
  o.ledger.seed = next_seed_++;
  o.tracker = tracker_.get();
  o.tracker_token = options_.auth_token;
  o.peer_id = peer_id_;
  o.announce_key = announce_key_;
  o.own_peers = &own_peers_;
  o.deliver = [this](Outbox out) { Deliver(std::move(out)); };
  o.poll = options_.tick_period;
  o.stopped_announce_timeout = options_.stop_announce_timeout;
  o.recheck = request.recheck();
  o.overwrite = request.overwrite();
  if (!options_.state_dir.empty()) {
    o.resume_path = absl::StrCat(options_.state_dir, "/", bt::ToHex(info_hash), ".resume");
  }
  return o;
}

void CoordinatorServer::Service::TickLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&tick_mu_);
      tick_mu_.AwaitWithTimeout(absl::Condition(&stop_ticker_), options_.tick_period);
      if (stop_ticker_) return;
    }
    std::vector<std::shared_ptr<Job>> jobs;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_->Now();
      for (auto& [id, w] : workers_) {
        if (!w.timed_out && now - w.last_seen > kMissedHeartbeats * options_.heartbeat_interval) {
          w.timed_out = true;
          Log(absl::StrCat("worker ", id, " (", w.conn->name, ") missed ", kMissedHeartbeats,
                           " heartbeats; dropping it"));
          w.conn->ctx->TryCancel();  // its handler sees the stream end and cleans up
        }
      }
      for (auto& [id, job] : jobs_) jobs.push_back(job);
      // Each stays in the map until its handler's first Read returns, so ctx is alive here.
      const absl::Time real_now = absl::Now();
      for (auto& [ctx, deadline] : awaiting_register_) {
        if (real_now >= deadline) ctx->TryCancel();
      }
    }
    for (auto& job : jobs) {
      Outbox out;
      job->Tick(&out);
      Deliver(std::move(out));
      ForgetIfOver(*job);
    }
  }
}

pb::TrackerQuery::StubInterface* CoordinatorServer::Service::TrackerStubFor(
    const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = tracker_stubs_.find(address);
  if (it != tracker_stubs_.end()) return it->second.get();
  if (tracker_stubs_.size() >= kMaxTrackerStubs) return nullptr;
  auto stub = pb::TrackerQuery::NewStub(rpc::MakeChannel(address, options_.tls));
  pb::TrackerQuery::StubInterface* raw = stub.get();
  tracker_stubs_[address] = std::move(stub);
  return raw;
}

void CoordinatorServer::Service::ForgetIfOver(const Job& job) {
  const pb::JobState state = job.state();
  if (!KeepsJobs() || (state != pb::COMPLETE && state != pb::FAILED)) return;
  const Job*& forgotten = forgotten_[job.id()];
  if (forgotten == &job) return;
  forgotten = &job;
  ForgetJob(options_.state_dir, job.id());
}

void CoordinatorServer::Service::StopTicker() {
  {
    absl::MutexLock lock(&tick_mu_);
    stop_ticker_ = true;
  }
  if (ticker_.joinable()) ticker_.join();
}

// --- swarm-cli side ------------------------------------------------------------------------

absl::StatusOr<pb::SubmitJobRequest> CoordinatorServer::Service::ReadSubmitJobParts(
    grpc::ServerReader<pb::SubmitJobRequest>* reader) {
  const size_t max_torrent = bt::MetainfoLimits().max_file_bytes;
  pb::SubmitJobRequest request;
  pb::SubmitJobRequest part;
  bool first = true;
  while (reader->Read(&part)) {
    if (request.torrent().size() + part.torrent().size() > max_torrent) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the .torrent is larger than ", max_torrent, " bytes"));
    }
    if (first) {
      request = std::move(part);
      first = false;
    } else {
      request.mutable_torrent()->append(part.torrent());
    }
    part.Clear();
  }
  if (first) return absl::InvalidArgumentError("SubmitJob sent no request");
  return request;
}

absl::Status CoordinatorServer::Service::DoSubmitJob(const pb::SubmitJobRequest& request,
                                                     pb::SubmitJobResponse* response) {
  if (!JobMode_IsValid(request.mode())) {
    return absl::InvalidArgumentError(absl::StrCat("unknown job mode ", request.mode()));
  }
  bt::Sha1Digest info_hash;
  MakeJob make;
  if (!request.magnet().empty()) {
    absl::StatusOr<bt::MagnetLink> link = bt::ParseMagnet(request.magnet());
    if (!link.ok()) return link.status();
    info_hash = link->info_hash;
    make = [&request, link = *std::move(link)](Job::Options o) {
      return Job::CreateFromMagnet(link, request.output_dir(), std::move(o));
    };
  } else {
    absl::StatusOr<bt::Metainfo> metainfo = bt::ParseMetainfo(request.torrent());
    if (!metainfo.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("bad torrent: ", metainfo.status().message()));
    }
    info_hash = metainfo->info_hash;
    make = [&request, m = std::make_shared<bt::Metainfo>(*std::move(metainfo))](Job::Options o) {
      return Job::Create(request.torrent(), std::move(*m), request.output_dir(), std::move(o));
    };
  }
  SWARM_RETURN_IF_ERROR(CheckInsideOutputRoot(options_.output_root, request.output_dir()));
  const std::string id = bt::ToHex(info_hash);
  bool created = false;
  SWARM_ASSIGN_OR_RETURN(std::shared_ptr<Job> job,
                         FindOrCreateJob(id, request, info_hash, make, &created));
  if (created) {
    Log(absl::StrCat("job ", id.substr(0, 12), ": \"", job->metainfo().name, "\" into ",
                     request.output_dir(),
                     request.magnet().empty() ? "" : " (a magnet link: fetching its metadata)"));
    if (!request.magnet().empty()) {
      absl::MutexLock lock(&mu_);
      magnet_requests_[id] = request;
    }
    if (KeepsJobs()) {
      // Not fatal: the job runs, only a crash of the coordinator would lose it.
      if (absl::Status saved = SaveJob(options_.state_dir, id, request); !saved.ok()) {
        Log(absl::StrCat("job ", id.substr(0, 12), ": not saved: ", saved.message()));
      }
    }
    job->Start();
  } else if (job->output_dir() != request.output_dir()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", id, " is already running with output_dir \"", job->output_dir(), "\""));
  }
  response->set_job_id(id);
  response->set_name(job->metainfo().name);
  if (job->state() != pb::FETCHING_METADATA) {  // else a stand-in: nothing is known yet
    response->set_total_bytes(job->metainfo().total_length);
    response->set_num_pieces(job->metainfo().num_pieces());
  }
  return absl::OkStatus();
}

void CoordinatorServer::Service::HandOverMagnet(const std::shared_ptr<Job>& magnet) {
  const std::string& id = magnet->id();
  pb::SubmitJobRequest request;
  Job::Options options;
  {
    absl::MutexLock lock(&mu_);
    auto it = magnet_requests_.find(id);
    if (it == magnet_requests_.end() || shutting_down_) return;
    request = std::move(it->second);
    magnet_requests_.erase(it);
    request.clear_magnet();
    request.set_torrent(magnet->metadata_torrent());
    options = JobOptions(request, magnet->metainfo().info_hash);
  }
  // mkdir and preallocation, with no lock held.
  absl::StatusOr<std::unique_ptr<Job>> made =
      Job::Create(request.torrent(), request.output_dir(), std::move(options));
  if (!made.ok()) {
    magnet->Abort(std::string(made.status().message()));
    return;
  }
  std::shared_ptr<Job> job = *std::move(made);
  job->AddKnownPeers(magnet->KnownPeers());
  {
    absl::MutexLock lock(&mu_);
    if (FindJobLocked(id) != magnet) return;  // cancelled meanwhile
    jobs_[id] = job;
  }
  Log(absl::StrCat("job ", id.substr(0, 12), ": metadata of \"", job->metainfo().name,
                   "\": ", job->metainfo().num_pieces(), " pieces, ", job->metainfo().total_length,
                   " bytes"));
  if (KeepsJobs()) {
    // Taken up again as the torrent, not as the link: the metadata is not fetched twice.
    if (absl::Status saved = SaveJob(options_.state_dir, id, request); !saved.ok()) {
      Log(absl::StrCat("job ", id.substr(0, 12), ": not saved: ", saved.message()));
    }
  }
  // The old job's StopJob goes out before the new one's StartJob: each worker ends its fetch
  // before it starts the job.
  magnet->HandOver();
  job->Start();
}

absl::StatusOr<std::shared_ptr<Job>> CoordinatorServer::Service::FindOrCreateJob(
    const std::string& id, const pb::SubmitJobRequest& request, const bt::Sha1Digest& info_hash,
    const MakeJob& make, bool* created) {
  *created = false;
  Job::Options options;
  std::shared_ptr<Job> previous;  // a run of the same torrent that is over
  for (;;) {
    std::shared_ptr<Job> job;
    {
      absl::MutexLock lock(&mu_);
      auto not_creating = [this, &id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !creating_.contains(id);
      };
      mu_.Await(absl::Condition(&not_creating));
      job = FindJobLocked(id);
    }
    // The job's state is read without mu_: Job::mu_ is never held together with it.
    if (job != nullptr && !Job::IsTerminal(job->state())) return job;
    absl::MutexLock lock(&mu_);
    // Another SubmitJob began creating it, or put a new run in place, meanwhile: look again.
    if (creating_.contains(id) || FindJobLocked(id) != job) continue;
    if (shutting_down_) return absl::UnavailableError("the coordinator is shutting down");
    creating_.insert(id);
    options = JobOptions(request, info_hash);
    previous = std::move(job);
    break;
  }
  // The run before saves its resume record as it ends: the new run reads it, so it waits for
  // that (a few seconds at most, and only right after the same torrent ended).
  if (previous != nullptr) previous->Join();
  // mkdir and preallocation, with no lock held; same-torrent calls wait on creating_.
  absl::StatusOr<std::unique_ptr<Job>> made = make(options);
  std::shared_ptr<Job> replaced;  // a finished run of the same torrent, destroyed unlocked
  absl::MutexLock lock(&mu_);
  creating_.erase(id);  // wakes the calls waiting for this torrent
  SWARM_RETURN_IF_ERROR(made.status());
  if (shutting_down_) return absl::UnavailableError("the coordinator is shutting down");
  std::shared_ptr<Job> job = *std::move(made);
  std::shared_ptr<Job>& slot = jobs_[id];
  replaced = std::move(slot);
  slot = job;
  *created = true;
  return job;
}

absl::Status CoordinatorServer::Service::DoWatchJob(grpc::ServerContext* ctx,
                                                    const pb::WatchJobRequest& request,
                                                    grpc::ServerWriter<pb::JobProgress>* writer) {
  std::shared_ptr<Job> job = FindJob(request.job_id());
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("no job ", request.job_id()));
  for (;;) {
    const pb::JobProgress progress = job->Progress(WorkerCount());
    if (job->handed_over()) {
      // A magnet link's job has made way for the torrent's: follow that one.
      job = FindJob(request.job_id());
      if (job == nullptr) return absl::NotFoundError(absl::StrCat("no job ", request.job_id()));
      continue;
    }
    if (!writer->Write(progress)) return absl::CancelledError("the watcher went away");
    if (Job::IsTerminal(progress.state())) return absl::OkStatus();
    job->WaitForStateChange(progress.state(), absl::Seconds(1));
    if (ctx->IsCancelled()) return absl::CancelledError("the watcher went away");
  }
}

absl::Status CoordinatorServer::Service::DoCancelJob(const pb::CancelJobRequest& request) {
  std::shared_ptr<Job> job = FindJob(request.job_id());
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("no job ", request.job_id()));
  job->Cancel();
  // Cancelled by a user: not taken up again (a shutdown cancels jobs too, and keeps them).
  if (KeepsJobs()) ForgetJob(options_.state_dir, job->id());
  return absl::OkStatus();
}

// --- worker side ---------------------------------------------------------------------------

absl::Status CoordinatorServer::Service::DoFetchTorrent(const pb::FetchTorrentRequest& request,
                                                        pb::FetchTorrentResponse* response) {
  std::shared_ptr<Job> job = FindJob(request.job_id());
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("no job ", request.job_id()));
  const std::string& torrent = job->torrent();
  if (request.offset() > torrent.size()) {
    return absl::OutOfRangeError(
        absl::StrCat("offset ", request.offset(), " is past the end (", torrent.size(), " bytes)"));
  }
  response->set_data(torrent.substr(request.offset(), kFetchChunk));
  response->set_total_size(torrent.size());
  return absl::OkStatus();
}

absl::Status CoordinatorServer::Service::DoWork(grpc::ServerContext* ctx, WorkStream* stream) {
  pb::WorkerMessage first;
  {
    absl::MutexLock lock(&mu_);
    awaiting_register_[ctx] = absl::Now() + options_.register_timeout;
  }
  const bool read = stream->Read(&first);
  {
    absl::MutexLock lock(&mu_);
    awaiting_register_.erase(ctx);
  }
  if (!read) return absl::CancelledError("the stream ended before register");
  if (!first.has_register_()) {
    return absl::InvalidArgumentError("the first message on a Work stream must be register");
  }
  const pb::Register& reg = first.register_();
  if (!options_.auth_token.empty() &&
      !rpc::ConstantTimeEquals(reg.auth_token(), options_.auth_token)) {
    Log(absl::StrCat("refused worker \"", reg.name().substr(0, 64), "\" from ", ctx->peer(),
                     ": wrong auth token"));
    return absl::UnauthenticatedError("wrong auth token");
  }
  SWARM_ASSIGN_OR_RETURN(WorkerAddress address, ResolveWorkerAddress(reg, ctx->peer()));

  auto w = std::make_shared<WorkerConn>();
  w->name = reg.name().substr(0, 128);
  w->peer_id = reg.peer_id();
  w->address = std::move(address);
  w->ctx = ctx;
  w->info.sees_output = reg.sees_output();
  w->info.max_peers = reg.max_peers();
  w->info.name = w->name;
  w->info.host = HostOfPeer(ctx->peer());
  w->sink_address = reg.sink_address().substr(0, 300);
  if (!reg.tracker_svc().empty()) w->tracker_via = TrackerStubFor(reg.tracker_svc());
  std::vector<std::shared_ptr<Job>> jobs;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return absl::UnavailableError("the coordinator is shutting down");
    w->info.id = next_worker_id_++;
    pb::CoordinatorMessage welcome;
    welcome.mutable_welcome()->set_worker_id(w->info.id);
    welcome.mutable_welcome()->set_heartbeat_interval_ms(
        static_cast<uint32_t>(absl::ToInt64Milliseconds(options_.heartbeat_interval)));
    w->Enqueue(std::move(welcome));  // first in the queue, before any StartJob
    Connected& connected = workers_[w->info.id];
    connected.conn = w;
    connected.last_seen = clock_->Now();
    PublishOwnPeersLocked();
    // Taken after the worker is in workers_: a job that starts downloading from now on
    // reaches it through the broadcast, one that already did through the loop below (and
    // Send keeps it to one StartJob either way).
    for (auto& [id, job] : jobs_) jobs.push_back(job);
  }
  Log(absl::StrCat("worker ", w->info.id, " (", w->name, ") registered from ", ctx->peer(),
                   w->address.listens() ? absl::StrCat(", listens on ", w->address.key) : "",
                   w->info.sees_output ? "" : ", cannot see the output"));
  w->writer = std::thread([w, stream] { w->WriteLoop(stream); });

  // StartJob (with the verified pieces as of now) from every job that is serving; each job
  // sends it itself, so that it comes before any later PiecesVerified of that job.
  for (auto& job : jobs) job->AddWorker(w->info.id);

  pb::WorkerMessage m;
  while (stream->Read(&m)) {
    {
      absl::MutexLock lock(&mu_);
      if (auto it = workers_.find(w->info.id); it != workers_.end()) {
        it->second.last_seen = clock_->Now();
      }
    }
    HandleWorkerMessage(*w, m);
  }
  RemoveWorker(w);
  return absl::OkStatus();
}

void CoordinatorServer::Service::RemoveWorker(const std::shared_ptr<WorkerConn>& w) {
  std::vector<std::shared_ptr<Job>> jobs;
  {
    absl::MutexLock lock(&mu_);
    workers_.erase(w->info.id);
    PublishOwnPeersLocked();  // its jobs announce it "stopped" at their next round
    for (auto& [id, job] : jobs_) jobs.push_back(job);
  }
  // The writer may be blocked on a worker that stopped reading: cancel the call first.
  w->ctx->TryCancel();
  w->CloseAndJoin();
  for (auto& job : jobs) {
    Outbox out;
    job->RemoveWorker(w->info.id, &out);
    Deliver(std::move(out));
  }
  Log(absl::StrCat("worker ", w->info.id, " (", w->name, ") is gone"));
}

void CoordinatorServer::Service::HandleWorkerMessage(const WorkerConn& w,
                                                     const pb::WorkerMessage& m) {
  Outbox out;
  auto with_job = [&](const std::string& job_id, auto f) {
    if (std::shared_ptr<Job> job = FindJob(job_id)) f(*job);
  };
  switch (m.kind_case()) {
    case pb::WorkerMessage::kRequestWork:
      with_job(m.request_work().job_id(),
               [&](Job& job) { job.OnRequestWork(w.info, m.request_work(), &out); });
      break;
    case pb::WorkerMessage::kPiecesDone:
      with_job(m.pieces_done().job_id(),
               [&](Job& job) { job.OnPiecesDone(w.info, m.pieces_done(), &out); });
      break;
    case pb::WorkerMessage::kPieceFailed:
      with_job(m.piece_failed().job_id(),
               [&](Job& job) { job.OnPieceFailed(w.info, m.piece_failed(), &out); });
      break;
    case pb::WorkerMessage::kPeerBitfield:
      with_job(m.peer_bitfield().job_id(),
               [&](Job& job) { job.OnPeerBitfield(w.info, m.peer_bitfield(), &out); });
      break;
    case pb::WorkerMessage::kPeerHave:
      with_job(m.peer_have().job_id(),
               [&](Job& job) { job.OnPeerHave(w.info, m.peer_have(), &out); });
      break;
    case pb::WorkerMessage::kPeerClosed:
      with_job(m.peer_closed().job_id(),
               [&](Job& job) { job.OnPeerClosed(w.info, m.peer_closed(), &out); });
      break;
    case pb::WorkerMessage::kHeartbeat:
      for (const pb::Heartbeat::LeaseProgress& p : m.heartbeat().progress()) {
        with_job(p.job_id(), [&](Job& job) { job.OnLeaseProgress(w.info, p); });
      }
      for (const pb::Heartbeat::JobTransfer& t : m.heartbeat().jobs()) {
        with_job(t.job_id(), [&](Job& job) { job.OnTransfer(w.info, t); });
      }
      break;
    case pb::WorkerMessage::kRequestChecks:
      with_job(m.request_checks().job_id(),
               [&](Job& job) { job.OnRequestChecks(w.info, m.request_checks(), &out); });
      break;
    case pb::WorkerMessage::kPiecesChecked:
      with_job(m.pieces_checked().job_id(),
               [&](Job& job) { job.OnPiecesChecked(w.info, m.pieces_checked(), &out); });
      break;
    case pb::WorkerMessage::kJobStopped:
      with_job(m.job_stopped().job_id(), [&](Job& job) { job.OnJobStopped(w.info); });
      break;
    case pb::WorkerMessage::kJobRefused:
      with_job(m.job_refused().job_id(),
               [&](Job& job) { job.OnJobRefused(w.info, m.job_refused(), &out); });
      break;
    case pb::WorkerMessage::kPeersLearned:
      with_job(m.peers_learned().job_id(),
               [&](Job& job) { job.OnPeersLearned(w.info, m.peers_learned(), &out); });
      break;
    case pb::WorkerMessage::kMetadataFound:
      if (std::shared_ptr<Job> job = FindJob(m.metadata_found().job_id());
          job != nullptr && job->OnMetadataFound(w.info, m.metadata_found())) {
        HandOverMagnet(job);
      }
      break;
    case pb::WorkerMessage::kRegister:  // a second register: nothing to do
    case pb::WorkerMessage::KIND_NOT_SET:
      break;
  }
  Deliver(std::move(out));
}

// --- CoordinatorServer ---------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(Options options) {
  if (options.lease_ttl <= absl::ZeroDuration() ||
      options.heartbeat_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("lease_ttl and heartbeat_interval must be positive");
  }
  SWARM_RETURN_IF_ERROR(
      rpc::RequireTokenBeyondLoopback(options.listen_address, options.auth_token));
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  const std::string listen = options.listen_address;
  const int max_threads = options.max_threads;
  const std::shared_ptr<grpc::ServerCredentials> credentials = rpc::ServerCredentials(options.tls);
  server->service_ = std::make_unique<Service>(std::move(options));
  SWARM_RETURN_IF_ERROR(server->service_->Init());  // before the first call can come in

  grpc::ServerBuilder builder;
  // Every message stays under gRPC's 4 MiB default, which is also what an unauthenticated
  // caller can make us buffer: a .torrent comes to SubmitJob in parts.
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  grpc::ResourceQuota quota("coordinator");
  quota.SetMaxThreads(max_threads);
  builder.SetResourceQuota(quota);
  builder.AddListeningPort(listen, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  return server;
}

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

const std::string& CoordinatorServer::peer_id() const { return service_->peer_id(); }

void CoordinatorServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_ || server_ == nullptr) return;
    shut_down_ = true;
  }
  service_->BeginShutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
  server_->Wait();
  service_->EndShutdown();
}

}  // namespace swarm::coordinator
