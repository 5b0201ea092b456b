#include "peer_svc/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "base/status_macros.h"
#include "bt/metainfo.h"
#include "bt/peer_id.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "peer_svc/local_address.h"
#include "rpc/auth_token.h"
#include "rpc/grpc_status.h"
#include "storage/content_files.h"

namespace swarm::peer_svc {

namespace {

// A .torrent larger than this is refused (bt::MetainfoLimits' default cap).
constexpr uint64_t kMaxTorrentBytes = 64u << 20;
// The control loop runs at least this often (job ticks: reports, RequestWork pacing).
constexpr absl::Duration kControlInterval = absl::Milliseconds(100);
// Streams (and so pieces in flight) of a job that streams its pieces to another worker.
constexpr int kStreamsPerJob = 4;
constexpr absl::Duration kDefaultHeartbeat = absl::Seconds(5);
constexpr absl::Duration kFetchTimeout = absl::Seconds(30);

std::string DefaultName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host[0] != '\0' ? host : "unknown", ":", getpid());
}

}  // namespace

Worker::Worker(const Options& options) : options_(options) {
  const std::string id = bt::NewPeerId();
  std::copy(id.begin(), id.end(), peer_id_.begin());
}

absl::StatusOr<std::unique_ptr<Worker>> Worker::Start(const Options& options) {
  if (options.coordinator.empty()) {
    return absl::InvalidArgumentError("no coordinator address given");
  }
  std::unique_ptr<Worker> w(new Worker(options));
  w->piece_memory_ = std::make_shared<PieceMemory>(options.piece_memory_bytes);
  Listener::Options lo;
  lo.ip = !options.listen_ip.empty() ? options.listen_ip
          : !options.bind_ip.empty()
              ? options.bind_ip
              : LocalAddressToward(options.coordinator).value_or("127.0.0.1");
  lo.port = options.listen_port;
  SWARM_ASSIGN_OR_RETURN(
      w->listener_,
      Listener::Start(lo, [p = w.get()](int fd, const bt::Handshake& h, const bt::Endpoint& from) {
        return p->OnIncomingPeer(fd, h, from);
      }));
  // The sink listens where peers reach us, or on every address when they do; it is given
  // out at our address toward the coordinator then.
  const bool wildcard = w->listener_->any_address();
  const std::string sink_ip =
      wildcard ? LocalAddressToward(options.coordinator).value_or("127.0.0.1") : lo.ip;
  PieceSinkServer::Options so;
  auto bracketed = [](const std::string& ip) {
    return ip.find(':') != std::string::npos ? absl::StrCat("[", ip, "]") : ip;
  };
  so.listen = absl::StrCat(wildcard ? "[::]" : bracketed(lo.ip), ":0");
  so.auth_token = options.auth_token;
  so.tls = options.tls;
  so.piece_size = [p = w.get()](const std::string& job_id,
                                uint32_t piece) -> absl::StatusOr<uint32_t> {
    std::shared_ptr<WorkerJob> job = p->FindJob(job_id);
    if (job == nullptr) return absl::NotFoundError(absl::StrCat("no job ", job_id, " here"));
    return job->StreamedPieceSize(piece);
  };
  so.write = [p = w.get()](const std::string& job_id, uint32_t piece, std::string_view bytes) {
    std::shared_ptr<WorkerJob> job = p->FindJob(job_id);
    if (job == nullptr) return absl::NotFoundError(absl::StrCat("no job ", job_id, " here"));
    return job->WriteStreamedPiece(piece, bytes);
  };
  SWARM_ASSIGN_OR_RETURN(w->sink_, PieceSinkServer::Start(std::move(so)));
  w->sink_address_ = absl::StrCat(bracketed(sink_ip), ":", w->sink_->port());
  // gRPC waits 1 s after a failed connect, then up to 2 min: a worker started next to its
  // coordinator (the embedded cluster starts them at once) or outliving a coordinator's
  // restart would idle that long. Tries again every 20 ms at first, at most every second.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  w->channel_ = rpc::MakeChannel(options.coordinator, options.tls, args);
  w->stub_ = pb::Coordinator::NewStub(w->channel_);
  SWARM_ASSIGN_OR_RETURN(Session session, w->OpenSession(options.connect_timeout));
  {
    absl::MutexLock lock(&w->session_mu_);
    w->session_ = std::move(session);
  }
  w->reader_ = std::thread([p = w.get()] { p->ReaderLoop(); });
  w->control_ = std::thread([p = w.get()] { p->ControlLoop(); });
  return w;
}

Worker::~Worker() { Shutdown(); }

uint64_t Worker::worker_id() const {
  absl::MutexLock lock(&session_mu_);
  return session_.worker_id;
}

absl::Status Worker::Wait() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&finished_));
  return final_status_;
}

void Worker::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
  }
  // No new peers from here on (Start may have failed before the listener existed), nor
  // streamed pieces (their senders try another worker).
  if (listener_ != nullptr) listener_->Stop();
  if (sink_ != nullptr) sink_->Shutdown();
  {
    // Ends a blocking Read in the reader (and a Write stuck on flow control).
    absl::MutexLock lock(&cancel_mu_);
    if (current_context_ != nullptr) current_context_->TryCancel();
  }
  if (reader_.joinable()) reader_.join();
  if (control_.joinable()) control_.join();
  StopAllJobs();
  Finish(absl::OkStatus());
}

void Worker::Finish(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  if (finished_) return;
  finished_ = true;
  final_status_ = status;
}

uint32_t Worker::ReservedOutbound() const {
  if (options_.reserved_outbound >= 0) return static_cast<uint32_t>(options_.reserved_outbound);
  // Never every slot: a worker of one slot must still take a peer that dials it.
  return options_.max_peers <= 1 ? 0 : std::max<uint32_t>(1, options_.max_peers / 5);
}

void Worker::LogRefusal(const bt::Endpoint& remote, const std::string& why) {
  // Once a minute per address at most: a peer that keeps dialling must not flood the log.
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (refusals_logged_.size() > 1024) refusals_logged_.clear();
    absl::Time& last = refusals_logged_[remote.ip().ToString()];
    if (now - last < absl::Minutes(1)) return;
    last = now;
  }
  Log(absl::StrCat("refused a connection from ", remote.ToString(), ": ", why));
}

void Worker::Log(const std::string& line) const {
  if (options_.verbose) std::cerr << "peer_svc: " << line << std::endl;
}

// ---------------------------------------------------------------------------------------------
// Session

absl::StatusOr<Worker::Session> Worker::OpenSession(absl::Duration timeout) {
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
  if (!channel_->WaitForConnected(deadline)) {
    // A TLS mismatch looks like an unreachable host from here: say what to check.
    return absl::UnavailableError(absl::StrCat(
        "cannot reach the coordinator at ", options_.coordinator, " within ",
        absl::FormatDuration(timeout),
        options_.tls.dials_tls()
            ? " (over TLS: is its certificate signed by --tls_ca and issued for that address "
              "or --tls_server_name? does it require a client certificate, --tls_cert?)"
            : " (if it serves TLS, give --tls_ca)"));
  }
  Session s;
  s.context = std::make_unique<grpc::ClientContext>();
  {
    absl::MutexLock lock(&cancel_mu_);
    current_context_ = s.context.get();
  }
  // Whatever happens below, Shutdown must not cancel a context that is gone.
  auto forget_context = [&] {
    absl::MutexLock lock(&cancel_mu_);
    if (current_context_ == s.context.get()) current_context_ = nullptr;
  };
  {
    // Shutdown sets the flag before it looks for a context to cancel: checked after
    // publishing ours, one of the two sees the other.
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      forget_context();
      return absl::CancelledError("shutting down");
    }
  }
  s.stream = stub_->Work(s.context.get());

  pb::WorkerMessage reg;
  pb::Register* r = reg.mutable_register_();
  r->set_auth_token(options_.auth_token);
  r->set_name(options_.name.empty() ? DefaultName() : options_.name);
  r->set_peer_id(std::string(peer_id_.begin(), peer_id_.end()));
  r->set_max_peers(options_.max_peers);
  r->set_sees_output(true);
  r->set_listen_port(listener_->port());
  // A wildcard is no address to give out: the coordinator uses the one it sees us at.
  r->set_listen_ip(listener_->any_address() ? "" : listener_->ip());
  r->set_sink_address(sink_address_);
  r->set_tracker_svc(options_.tracker_svc);

  pb::CoordinatorMessage welcome;
  bool got_welcome = false;
  if (s.stream->Write(reg)) {
    // A coordinator that accepts the stream but never answers must not hang us.
    absl::Notification answered;
    std::thread watchdog([&] {
      if (!answered.WaitForNotificationWithTimeout(timeout)) {
        s.context->TryCancel();
      }
    });
    got_welcome = s.stream->Read(&welcome);
    answered.Notify();
    watchdog.join();
  }
  if (!got_welcome) {
    const absl::Status status = rpc::FromGrpcStatus(s.stream->Finish());
    forget_context();
    if (absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status)) return status;
    return absl::UnavailableError(
        absl::StrCat("coordinator at ", options_.coordinator,
                     " ended the session before welcoming us: ", status.ToString()));
  }
  if (!welcome.has_welcome()) {
    s.context->TryCancel();
    s.stream->Finish();
    forget_context();
    return absl::FailedPreconditionError("coordinator's first message is not a Welcome");
  }
  s.worker_id = welcome.welcome().worker_id();
  s.heartbeat_interval = welcome.welcome().heartbeat_interval_ms() > 0
                             ? absl::Milliseconds(welcome.welcome().heartbeat_interval_ms())
                             : kDefaultHeartbeat;
  s.alive = true;
  return s;
}

void Worker::ReaderLoop() {
  while (true) {
    const absl::Status ended = ReadSession();
    StopAllJobs();
    {
      absl::MutexLock lock(&mu_);
      outbox_.clear();  // addressed to the session that is gone
      if (shutting_down_) return;
    }
    Log(absl::StrCat("session with the coordinator ended: ", ended.ToString()));
    if (absl::IsUnauthenticated(ended) || absl::IsPermissionDenied(ended)) {
      Finish(ended);
      return;
    }
    absl::Status last = ended;
    absl::Duration backoff = options_.reconnect_backoff;
    bool reconnected = false;
    for (int attempt = 0; options_.reconnect_attempts <= 0 || attempt < options_.reconnect_attempts;
         ++attempt) {
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), backoff);
        if (shutting_down_) return;
      }
      backoff = std::min(backoff * 2,
                         std::max(options_.max_reconnect_backoff, options_.reconnect_backoff));
      absl::StatusOr<Session> s = OpenSession(options_.reconnect_timeout);
      if (!s.ok()) {
        last = s.status();
        failed_reconnects_.fetch_add(1);
        Log(absl::StrCat("reconnect attempt ", attempt + 1, " failed: ", last.ToString()));
        if (absl::IsUnauthenticated(last) || absl::IsPermissionDenied(last)) break;
        continue;
      }
      failed_reconnects_.store(0);
      const uint64_t id = s->worker_id;
      {
        absl::MutexLock lock(&session_mu_);
        session_ = *std::move(s);
      }
      Log(absl::StrCat("registered again as worker ", id));
      reconnected = true;
      break;
    }
    if (!reconnected) {
      Finish(absl::UnavailableError(
          absl::StrCat("lost the coordinator at ", options_.coordinator, " (", ended.ToString(),
                       "); gave up after ", options_.reconnect_attempts,
                       " reconnect attempts, the last: ", last.ToString())));
      return;
    }
  }
}

absl::Status Worker::ReadSession() {
  Stream* stream;
  {
    absl::MutexLock lock(&session_mu_);
    stream = session_.stream.get();
  }
  // Only this thread replaces the session, so `stream` stays valid while it reads.
  pb::CoordinatorMessage m;
  while (stream->Read(&m)) Dispatch(m);
  absl::MutexLock lock(&session_mu_);
  // Under session_mu_: no Write is in progress, and none follows (alive = false).
  session_.alive = false;
  absl::Status status = rpc::FromGrpcStatus(stream->Finish());
  {
    absl::MutexLock cancel_lock(&cancel_mu_);
    if (current_context_ == session_.context.get()) current_context_ = nullptr;
  }
  if (status.ok()) status = absl::UnavailableError("the coordinator closed the session");
  return status;
}

void Worker::Dispatch(const pb::CoordinatorMessage& m) {
  std::string job_id;
  switch (m.kind_case()) {
    case pb::CoordinatorMessage::kStartJob:
      StartJob(m.start_job());
      return;
    case pb::CoordinatorMessage::kFetchMetadata:
      FetchMetadata(m.fetch_metadata());
      return;
    case pb::CoordinatorMessage::kAddPeers:
      job_id = m.add_peers().job_id();
      break;
    case pb::CoordinatorMessage::kGrantLeases:
      job_id = m.grant_leases().job_id();
      break;
    case pb::CoordinatorMessage::kRevokeLeases:
      job_id = m.revoke_leases().job_id();
      break;
    case pb::CoordinatorMessage::kStopJob:
      job_id = m.stop_job().job_id();
      break;
    case pb::CoordinatorMessage::kPiecesVerified:
      job_id = m.pieces_verified().job_id();
      break;
    case pb::CoordinatorMessage::kCheckPieces:
      job_id = m.check_pieces().job_id();
      break;
    default:
      return;  // a second Welcome, or a kind newer than this worker: nothing to do
  }
  std::shared_ptr<WorkerJob> job;
  std::shared_ptr<MetadataJob> metadata_job;
  std::string failed_why;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = metadata_jobs_.find(job_id); it != metadata_jobs_.end()) {
      metadata_job = it->second;
      if (m.kind_case() == pb::CoordinatorMessage::kStopJob) metadata_jobs_.erase(it);
    }
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) job = it->second;
    auto f = failed_jobs_.find(job_id);
    failed_why = f != failed_jobs_.end() ? f->second : "job not started on this worker";
    if (m.kind_case() == pb::CoordinatorMessage::kStopJob) {
      jobs_.erase(job_id);
      failed_jobs_.erase(job_id);
    }
  }
  if (metadata_job != nullptr && m.kind_case() == pb::CoordinatorMessage::kAddPeers) {
    metadata_job->AddPeers(m.add_peers());
    return;
  }
  if (m.kind_case() == pb::CoordinatorMessage::kStopJob) {
    if (metadata_job != nullptr) metadata_job->Stop();
    // Connections closed and every verified piece written: then the coordinator may record
    // the files' stamps, knowing we write nothing more.
    if (job != nullptr) job->Stop();
    Log(absl::StrCat("job ", job_id, " stopped"));
    pb::WorkerMessage stopped;
    stopped.mutable_job_stopped()->set_job_id(job_id);
    Send(std::move(stopped));
    return;
  }
  if (job == nullptr) {
    RefuseWork(job_id, m, failed_why);
    return;
  }
  switch (m.kind_case()) {
    case pb::CoordinatorMessage::kAddPeers:
      job->AddPeers(m.add_peers());
      break;
    case pb::CoordinatorMessage::kGrantLeases:
      job->GrantLeases(m.grant_leases());
      break;
    case pb::CoordinatorMessage::kRevokeLeases:
      job->RevokeLeases(m.revoke_leases());
      break;
    case pb::CoordinatorMessage::kPiecesVerified:
      job->PiecesVerified(m.pieces_verified());
      break;
    case pb::CoordinatorMessage::kCheckPieces:
      job->CheckPieces(m.check_pieces());
      break;
    default:
      break;
  }
}

void Worker::RefuseWork(const std::string& job_id, const pb::CoordinatorMessage& m,
                        const std::string& why) {
  if (m.has_grant_leases()) {
    for (const pb::Lease& l : m.grant_leases().leases()) {
      pb::WorkerMessage out;
      pb::PieceFailed* f = out.mutable_piece_failed();
      f->set_job_id(job_id);
      f->set_piece(l.piece());
      // The only failure kind that says "this worker cannot use its output files".
      f->set_reason(pb::WRITE_ERROR);
      f->set_detail(why);
      Send(std::move(out));
    }
  } else if (m.has_add_peers()) {
    for (const pb::PeerAddress& p : m.add_peers().peers()) {
      pb::WorkerMessage out;
      pb::PeerClosed* c = out.mutable_peer_closed();
      c->set_job_id(job_id);
      *c->mutable_peer() = p;
      c->set_reason(why);
      Send(std::move(out));
    }
  }
}

void Worker::StartJob(const pb::StartJob& start) {
  const std::string& id = start.job_id();
  {
    absl::MutexLock lock(&mu_);
    if (jobs_.contains(id)) return;
    failed_jobs_.erase(id);
  }
  auto open = [&]() -> absl::StatusOr<std::shared_ptr<WorkerJob>> {
    SWARM_ASSIGN_OR_RETURN(std::string torrent, FetchTorrent(id, start.torrent_size()));
    SWARM_ASSIGN_OR_RETURN(bt::Metainfo metainfo, bt::ParseMetainfo(torrent));
    absl::StatusOr<std::unique_ptr<storage::ContentFiles>> files = storage::ContentFiles::Open(
        metainfo, start.output_dir(), storage::ContentMode::kOpenExisting,
        /*max_open_files=*/128, /*direct_io=*/true);
    std::vector<std::unique_ptr<PieceStreamer>> streamers;
    if (!files.ok()) {
      // Not here: the files are on a host (or storage) we do not see. Another worker that
      // sees them writes our pieces, if the coordinator knows of one; else we cannot help.
      PieceStreamer::Options so;
      for (const std::string& sink : start.sinks()) {
        if (sink != sink_address_) so.sinks.push_back(sink);
      }
      if (so.sinks.empty()) return files.status();
      so.job_id = id;
      so.auth_token = options_.auth_token;
      so.tls = options_.tls;
      // Several streams, so that a piece's round trip does not idle the link; they start at
      // different writers, spread by our peer id.
      const size_t first = peer_id_[19] + 256u * peer_id_[18];
      for (int i = 0; i < kStreamsPerJob; ++i) {
        so.first_sink = first + i;
        streamers.push_back(std::make_unique<PieceStreamer>(so));
      }
      Log(absl::StrCat("job ", id, ": ", files.status().message(), "; streaming pieces to ",
                       streamers.front()->sink()));
    }
    // Empty: nothing verified yet (or a coordinator that does not say).
    bt::Bitfield verified(metainfo.num_pieces());
    if (!start.verified().empty()) {
      absl::StatusOr<bt::Bitfield> v =
          bt::Bitfield::FromBytes(start.verified(), metainfo.num_pieces());
      if (!v.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("StartJob.verified: ", v.status().message()));
      }
      verified = *std::move(v);
    }
    WorkerJob::Options jo = options_.job;
    jo.job_id = id;
    jo.connection.peer_id = peer_id_;
    jo.connection.bind_ip = options_.bind_ip;
    jo.connection.listen_port = listener_->port();
    jo.downloaded_bytes = &downloaded_bytes_;
    jo.uploaded_bytes = &uploaded_bytes_;
    jo.piece_memory = piece_memory_;
    return std::make_shared<WorkerJob>(
        jo, std::move(metainfo), files.ok() ? *std::move(files) : nullptr, std::move(streamers),
        verified, [this](pb::WorkerMessage m) { Send(std::move(m)); }, [this] { Poke(); });
  };
  absl::StatusOr<std::shared_ptr<WorkerJob>> job = open();
  // Before taking mu_: the job's lock comes first in the lock order (its `send`).
  // A streaming job has no files to check: the workers that see them do.
  if (job.ok() && start.check() && !(*job)->streaming()) (*job)->StartChecking();
  const bool seeding = job.ok() && (*job)->seeding();
  absl::MutexLock lock(&mu_);
  if (!job.ok()) {
    failed_jobs_[id] = absl::StrCat("cannot serve job ", id, ": ", job.status().ToString());
    Log(failed_jobs_[id]);
    // The coordinator shows why with the job's progress, and gives this worker nothing of it.
    pb::WorkerMessage refused;
    refused.mutable_job_refused()->set_job_id(id);
    refused.mutable_job_refused()->set_reason(std::string(job.status().message()));
    outbox_.push_back(std::move(refused));
    return;
  }
  Log(absl::StrCat("job ", id, " started: ", (*job)->metainfo().name, ", ",
                   (*job)->metainfo().num_pieces(), " pieces, into ", start.output_dir(),
                   seeding ? " (seeding)" : ""));
  jobs_[id] = *std::move(job);
  poked_ = true;
}

void Worker::FetchMetadata(const pb::FetchMetadata& fetch) {
  const std::string& id = fetch.job_id();
  if (fetch.info_hash().size() != 20) return;
  MetadataJob::Options o;
  o.job_id = id;
  std::copy(fetch.info_hash().begin(), fetch.info_hash().end(), o.fetcher.info_hash.begin());
  o.fetcher.peer_id = peer_id_;
  o.fetcher.bind_ip = options_.bind_ip;
  o.fetcher.listen_port = listener_->port();
  auto job = std::make_shared<MetadataJob>(o, [this](pb::WorkerMessage m) { Send(std::move(m)); });
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_ || metadata_jobs_.contains(id)) return;
    metadata_jobs_[id] = job;
  }
  Log(absl::StrCat("job ", id, ": fetching the metadata of a magnet link"));
  job->Start();
}

std::shared_ptr<WorkerJob> Worker::FindJob(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second;
}

absl::StatusOr<std::string> Worker::FetchTorrent(const std::string& job_id, uint64_t size) {
  if (size > kMaxTorrentBytes) {
    return absl::InvalidArgumentError(absl::StrCat("torrent of ", size, " bytes is too large"));
  }
  std::string out;
  out.reserve(size);
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(absl::ToInt64Milliseconds(kFetchTimeout)));
    rpc::AttachAuthToken(options_.auth_token, &ctx);
    pb::FetchTorrentRequest req;
    req.set_job_id(job_id);
    req.set_offset(out.size());
    pb::FetchTorrentResponse resp;
    const absl::Status status = rpc::FromGrpcStatus(stub_->FetchTorrent(&ctx, req, &resp));
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("FetchTorrent: ", status.message()));
    }
    if (resp.total_size() > kMaxTorrentBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("torrent of ", resp.total_size(), " bytes is too large"));
    }
    out += resp.data();
    if (out.size() >= resp.total_size()) {
      if (out.size() != resp.total_size()) {
        return absl::DataLossError("FetchTorrent returned more bytes than the torrent has");
      }
      return out;
    }
    if (resp.data().empty()) {
      return absl::DataLossError(absl::StrCat("FetchTorrent returned no data at offset ",
                                              out.size(), " of ", resp.total_size()));
    }
  }
}

bool Worker::OnIncomingPeer(int fd, const bt::Handshake& handshake, const bt::Endpoint& remote) {
  if (handshake.peer_id == peer_id_) {
    // Ourselves, dialled at the address the tracker handed out. Answering (with the same
    // handshake: it is ours) lets the dialling side see its own peer id and ban the address,
    // so that the coordinator does not give it to us again.
    const std::string bytes = bt::EncodeHandshake(handshake);
    (void)!send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    return false;
  }
  std::vector<std::shared_ptr<WorkerJob>> jobs;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return false;
    for (auto& [id, job] : jobs_) jobs.push_back(job);
  }
  uint32_t peers = 0;
  WorkerJob::Incoming incoming;
  for (const auto& job : jobs) {
    peers += static_cast<uint32_t>(job->num_peers());
    const WorkerJob::Incoming n = job->CountIncoming(remote.ip());
    incoming.all += n.all;
    incoming.from_ip += n.from_ip;
  }
  std::string refused;
  if (peers >= options_.max_peers) {
    refused = "every peer slot is taken";
  } else if (incoming.all + ReservedOutbound() >= options_.max_peers) {
    refused = "the slots left are kept for peers we dial";
  } else if (incoming.from_ip >= options_.max_incoming_per_ip) {
    refused = absl::StrCat("it has ", incoming.from_ip, " connections to us already");
  }
  if (!refused.empty()) {
    LogRefusal(remote, refused);
    return false;
  }
  for (const auto& job : jobs) {
    if (job->metainfo().info_hash == handshake.info_hash) {
      return job->AcceptPeer(fd, handshake, remote);
    }
  }
  // Not a torrent we serve: BEP 3 says drop it without an answer.
  return false;
}

void Worker::StopAllJobs() {
  std::vector<std::shared_ptr<WorkerJob>> jobs;
  std::vector<std::shared_ptr<MetadataJob>> metadata_jobs;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, job] : jobs_) jobs.push_back(job);
    for (auto& [id, job] : metadata_jobs_) metadata_jobs.push_back(job);
    jobs_.clear();
    metadata_jobs_.clear();
    failed_jobs_.clear();
  }
  for (auto& job : metadata_jobs) job->Stop();
  for (auto& job : jobs) job->Stop();
}

// ---------------------------------------------------------------------------------------------
// Control loop: the only writer of the stream

void Worker::Send(pb::WorkerMessage m) {
  absl::MutexLock lock(&mu_);
  outbox_.push_back(std::move(m));
}

void Worker::Poke() {
  absl::MutexLock lock(&mu_);
  poked_ = true;
}

void Worker::ControlLoop() {
  absl::Time next_heartbeat = absl::Now();
  absl::Time next_tick = absl::InfiniteFuture();  // sooner than kControlInterval, if a job asks
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutting_down_ || poked_ || !outbox_.empty();
  };
  while (true) {
    std::vector<std::shared_ptr<WorkerJob>> jobs;
    std::deque<pb::WorkerMessage> batch;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      const absl::Duration wait =
          std::max(absl::ZeroDuration(),
                   std::min({kControlInterval, next_heartbeat - now, next_tick - now}));
      mu_.AwaitWithTimeout(absl::Condition(&ready), wait);
      if (shutting_down_) return;
      poked_ = false;
      for (auto& [id, job] : jobs_) jobs.push_back(job);
    }
    const absl::Time now = absl::Now();
    uint32_t peers = 0;
    for (const auto& job : jobs) peers += static_cast<uint32_t>(job->num_peers());
    const uint32_t free_slots = options_.max_peers > peers ? options_.max_peers - peers : 0;
    next_tick = absl::InfiniteFuture();
    for (const auto& job : jobs) next_tick = std::min(next_tick, job->Tick(now, free_slots));

    absl::Duration heartbeat_interval;
    {
      absl::MutexLock lock(&session_mu_);
      heartbeat_interval = session_.heartbeat_interval;
    }
    if (now >= next_heartbeat) {
      pb::WorkerMessage m;
      pb::Heartbeat* hb = m.mutable_heartbeat();
      for (const auto& job : jobs) job->TakeProgress(hb);
      hb->set_downloaded_bytes(downloaded_bytes_.load(std::memory_order_relaxed));
      hb->set_uploaded_bytes(uploaded_bytes_.load(std::memory_order_relaxed));
      Send(std::move(m));
      next_heartbeat = now + heartbeat_interval;
    }

    {
      absl::MutexLock lock(&mu_);
      batch.swap(outbox_);
    }
    absl::MutexLock lock(&session_mu_);
    if (!session_.alive) continue;  // between sessions: dropped, like the jobs they were for
    for (size_t i = 0; i < batch.size(); ++i) {
      // All but the last may wait in gRPC's buffer: one flush per batch.
      grpc::WriteOptions options;
      if (i + 1 < batch.size()) options.set_buffer_hint();
      // A failed Write means the stream broke: the reader sees it end and takes over.
      if (!session_.stream->Write(batch[i], options)) break;
    }
  }
}

}  // namespace swarm::peer_svc
