#include "peer_svc/worker_job.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "bt/sha1.h"
#include "bt/ut_pex.h"

namespace swarm::peer_svc {
namespace {

// Pieces a worker takes to check at once: enough to keep its disk and SHA-1 busy between two
// answers of the coordinator, few enough that a dead worker's share is quickly redone.
uint32_t CheckRoom(uint32_t piece_length) {
  const uint32_t by_bytes =
      static_cast<uint32_t>((64u << 20) / std::max<uint32_t>(piece_length, 1));
  return std::clamp<uint32_t>(by_bytes, 4, 256);
}

}  // namespace

WorkerJob::WorkerJob(const Options& options, bt::Metainfo metainfo,
                     std::unique_ptr<storage::ContentFiles> files,
                     std::vector<std::unique_ptr<PieceStreamer>> streamers,
                     const bt::Bitfield& verified, std::function<void(WorkerMessage)> send,
                     std::function<void()> poke)
    : options_(options),
      metainfo_(std::move(metainfo)),
      files_(std::move(files)),
      streamers_(std::move(streamers)),
      streamer_busy_(streamers_.size(), false),
      cache_(!streamers_.empty() ? options.stream_cache_bytes : 0),
      send_(std::move(send)),
      poke_(std::move(poke)),
      buffers_(metainfo_.piece_length, 8u << 20, options.piece_memory.get()),
      pool_(metainfo_.num_pieces()),
      verified_(verified.size() == metainfo_.num_pieces() ? verified
                                                          : bt::Bitfield(metainfo_.num_pieces())),
      choker_(options.choker, absl::Now()),
      writer_(
          [&] {
            PieceWriter::Options o = options.writer;
            if (!streamers_.empty()) o.threads = static_cast<int>(streamers_.size());
            return o;
          }(),
          [this](uint32_t piece, std::string_view bytes) { return Store(piece, bytes); },
          &buffers_),
      checker_([this](uint32_t piece, char* buffer) { return CheckOnDisk(piece, buffer); },
               [this](PieceChecker::Results results) { OnChecked(std::move(results)); },
               metainfo_.piece_length) {}

WorkerJob::~WorkerJob() { Stop(); }

absl::Status WorkerJob::Store(uint32_t piece, std::string_view bytes) {
  if (streamers_.empty()) return files_->WritePiece(piece, bytes);
  size_t mine = 0;
  {
    absl::MutexLock lock(&streamers_mu_);
    while (mine < streamer_busy_.size() && streamer_busy_[mine]) ++mine;
    if (mine == streamer_busy_.size()) return absl::InternalError("no free stream");
    streamer_busy_[mine] = true;
  }
  const absl::Status sent = streamers_[mine]->Send(piece, bytes);
  {
    absl::MutexLock lock(&streamers_mu_);
    streamer_busy_[mine] = false;
  }
  SWARM_RETURN_IF_ERROR(sent);
  cache_.Put(piece, std::string(bytes));  // before MarkVerified announces it
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> WorkerJob::StreamedPieceSize(uint32_t piece) const {
  if (files_ == nullptr) return absl::FailedPreconditionError("this worker cannot see the files");
  if (piece >= metainfo_.num_pieces()) {
    return absl::OutOfRangeError(absl::StrCat("no piece ", piece));
  }
  return metainfo_.layout().piece_size(piece);
}

absl::Status WorkerJob::WriteStreamedPiece(uint32_t piece, std::string_view bytes) {
  SWARM_ASSIGN_OR_RETURN(const uint32_t size, StreamedPieceSize(piece));
  if (bytes.size() != size) return absl::InvalidArgumentError("wrong piece size");
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the job is stopping here");
  }
  return files_->WritePiece(piece, bytes);
}

void WorkerJob::SetPeer(pb::PeerAddress* out, const bt::Endpoint& endpoint) const {
  out->set_ip(endpoint.ip().ToString());
  out->set_port(endpoint.port());
}

void WorkerJob::CancelOn(const std::vector<PiecePool::PeerKey>& keys, uint32_t piece,
                         PiecePool::PeerKey except) {
  for (PiecePool::PeerKey key : keys) {
    if (key == except) continue;
    auto it = conns_.find(key);
    if (it != conns_.end()) it->second->CancelPieces({piece});
  }
}

void WorkerJob::WakeAll(PiecePool::PeerKey except) {
  for (auto& [key, conn] : conns_) {
    if (key != except) conn->Wake();
  }
}

void WorkerJob::SendPieceFailed(uint32_t piece, pb::PieceFailure reason, const bt::Endpoint* peer,
                                std::string detail) {
  WorkerMessage m;
  pb::PieceFailed* f = m.mutable_piece_failed();
  f->set_job_id(options_.job_id);
  f->set_piece(piece);
  f->set_reason(reason);
  if (peer != nullptr) SetPeer(f->mutable_peer(), *peer);
  f->set_detail(std::move(detail));
  send_(std::move(m));
}

void WorkerJob::SendPeerClosed(const pb::PeerAddress& peer, std::string reason, bool banned,
                               bool misbehaved) {
  WorkerMessage m;
  pb::PeerClosed* c = m.mutable_peer_closed();
  c->set_job_id(options_.job_id);
  *c->mutable_peer() = peer;
  c->set_reason(std::move(reason));
  c->set_banned(banned);
  c->set_misbehaved(misbehaved);
  send_(std::move(m));
}

PeerConnection::Options WorkerJob::ConnectionOptions(bt::Endpoint endpoint) {
  PeerConnection::Options o = options_.connection;
  o.key = next_key_++;
  o.endpoint = std::move(endpoint);
  o.info_hash = metainfo_.info_hash;
  o.layout = metainfo_.layout();
  o.piece_hashes = metainfo_.piece_hashes;
  // BEP 27: a private torrent's metadata goes only where its .torrent goes, and its peers
  // only come from its trackers.
  if (!metainfo_.is_private) o.info_dict = metainfo_.info_bytes;
  o.pex = !metainfo_.is_private;
  o.buffer_pool = &buffers_;
  return o;
}

void WorkerJob::AddConnection(std::unique_ptr<PeerConnection> conn, absl::Time now) {
  connected_.insert(conn->endpoint().ToString());
  choker_.AddPeer(conn->key(), now);
  // The new thread's first delegate call waits for mu_, so it finds itself in conns_.
  conns_[conn->key()] = std::move(conn);
}

// ---------------------------------------------------------------------------------------------
// From the coordinator

void WorkerJob::AddPeers(const pb::AddPeers& add) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  const absl::Time now = absl::Now();
  for (const pb::PeerAddress& p : add.peers()) {
    absl::StatusOr<bt::Endpoint> endpoint = bt::Endpoint::Make(p.ip(), p.port());
    if (!endpoint.ok()) {
      SendPeerClosed(p, std::string(endpoint.status().message()));
      peers_changed_ = true;  // ask for another in its place
      continue;
    }
    const std::string name = endpoint->ToString();
    if (banned_.contains(endpoint->ip().ToString()) || shunned_.contains(name) ||
        connected_.contains(name)) {
      continue;
    }
    if (verified_.All() && seeds_.contains(name)) {
      // Handed back at once, so the coordinator can give us a peer we can serve instead.
      SendPeerClosed(p, "a seed, and so are we: nothing to trade");
      continue;
    }
    AddConnection(PeerConnection::Start(ConnectionOptions(*std::move(endpoint)), this), now);
  }
}

bool WorkerJob::AcceptPeer(int fd, const bt::Handshake& handshake, const bt::Endpoint& remote) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || banned_.contains(remote.ip().ToString())) return false;
  AddConnection(PeerConnection::Adopt(ConnectionOptions(remote), fd, handshake, this), absl::Now());
  return true;
}

void WorkerJob::PiecesVerified(const pb::PiecesVerified& verified) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  MarkVerified(verified.pieces());
}

void WorkerJob::MarkVerified(absl::Span<const uint32_t> pieces) {
  std::vector<uint32_t> fresh;
  for (uint32_t piece : pieces) {
    if (piece >= verified_.size() || verified_.Get(piece)) continue;
    verified_.Set(piece);
    fresh.push_back(piece);
    // Verified elsewhere while we hold its lease (the coordinator revokes it too).
    if (pool_.Holds(piece)) CancelOn(pool_.Remove(piece), piece, 0);
  }
  if (fresh.empty()) return;
  if (streaming()) {
    // Only what we still hold can be uploaded, so only that is announced.
    fresh.erase(std::remove_if(fresh.begin(), fresh.end(),
                               [this](uint32_t piece) { return !cache_.Has(piece); }),
                fresh.end());
  }
  for (auto& [key, conn] : conns_) conn->AnnouncePieces(fresh);
  pieces_changed_ = true;
  if (verified_.All()) became_seed_ = true;
}

void WorkerJob::StartChecking() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  checking_ = true;
  ask_for_checks_ = true;
}

void WorkerJob::CheckPieces(const pb::CheckPieces& check) {
  std::vector<uint32_t> pieces;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    for (uint32_t p : check.pieces()) {
      if (p < metainfo_.num_pieces()) {
        pieces.push_back(p);
      } else {
        checked_.missing.push_back(p);  // answered, so that the coordinator's count adds up
      }
    }
    checks_held_ += pieces.size();
  }
  checker_.Add(pieces);
}

PieceChecker::OnDisk WorkerJob::CheckOnDisk(uint32_t piece, char* buffer) const {
  using OnDisk = PieceChecker::OnDisk;
  const uint32_t size = metainfo_.layout().piece_size(piece);
  // A piece that cannot be read is not there: the download fetches it (and a broken disk
  // then shows up as write errors).
  if (files_ == nullptr || !files_->ReadBlock(piece, 0, size, buffer).ok()) return OnDisk::kAbsent;
  if (bt::AsBytes(bt::Sha1(std::string_view(buffer, size))) == metainfo_.piece_hash(piece)) {
    return OnDisk::kMatches;
  }
  // A hole (preallocated, never written) is all zeros; anything else is someone's data.
  const bool blank = size == 0 || (buffer[0] == 0 && memcmp(buffer, buffer + 1, size - 1) == 0);
  return blank ? OnDisk::kAbsent : OnDisk::kOther;
}

void WorkerJob::OnChecked(PieceChecker::Results results) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    checks_held_ -= std::min(checks_held_, results.size());
    auto append = [](std::vector<uint32_t>& to, const std::vector<uint32_t>& from) {
      to.insert(to.end(), from.begin(), from.end());
    };
    append(checked_.verified, results.verified);
    append(checked_.missing, results.missing);
    append(checked_.differing, results.differing);
  }
  poke_();
}

void WorkerJob::SendCheckMessages() {
  if (!checking_) return;
  if (checked_.size() > 0) {
    WorkerMessage m;
    pb::PiecesChecked* c = m.mutable_pieces_checked();
    c->set_job_id(options_.job_id);
    c->mutable_verified()->Add(checked_.verified.begin(), checked_.verified.end());
    c->mutable_missing()->Add(checked_.missing.begin(), checked_.missing.end());
    c->mutable_differing()->Add(checked_.differing.begin(), checked_.differing.end());
    checked_ = PieceChecker::Results();
    send_(std::move(m));
    ask_for_checks_ = true;
  }
  // Asked again only after results went out: the coordinator remembers the last request,
  // and a request it cannot serve (the check is over) needs no repeating.
  const uint32_t room = CheckRoom(metainfo_.piece_length);
  if (ask_for_checks_ && checks_held_ <= room / 2) {
    WorkerMessage m;
    pb::RequestChecks* r = m.mutable_request_checks();
    r->set_job_id(options_.job_id);
    r->set_max_pieces(room - static_cast<uint32_t>(checks_held_));
    send_(std::move(m));
    ask_for_checks_ = false;
  }
}

bool WorkerJob::seeding() const {
  absl::MutexLock lock(&mu_);
  return verified_.All();
}

void WorkerJob::GrantLeases(const pb::GrantLeases& grant) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  const absl::Time now = absl::Now();
  int added = 0;
  bool endgame = false;
  for (const pb::Lease& l : grant.leases()) {
    // Granted before the coordinator's PiecesVerified for it reached us: nothing to fetch,
    // and the coordinator, knowing the piece is verified, expects nothing back.
    if (verified_.Get(l.piece())) continue;
    if (pool_.AddLease(l.piece(), now)) ++added;
    endgame = endgame || l.endgame();
  }
  if (added == 0) return;
  starved_since_ = absl::InfiniteFuture();
  // Fresh leases to fetch: duplicating in-flight pieces would waste the peers' time, unless
  // the coordinator itself is in endgame.
  pool_.set_endgame(endgame);
  shared_endgame_ = endgame;
  WakeAll(0);
}

void WorkerJob::RevokeLeases(const pb::RevokeLeases& revoke) {
  absl::MutexLock lock(&mu_);
  for (uint32_t piece : revoke.pieces()) CancelOn(pool_.Remove(piece), piece, 0);
  pieces_changed_ = true;
}

void WorkerJob::Stop() {
  std::vector<std::unique_ptr<PeerConnection>> conns;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [key, conn] : conns_) {
      conn->Stop();
      conns.push_back(std::move(conn));
    }
    conns_.clear();
  }
  // Joined without the lock: each connection's OnClosed takes it.
  for (auto& c : conns) c->Join();
  // Then the writer, once it has written what the connections handed it.
  writer_.Stop();
  checker_.Stop();
}

// ---------------------------------------------------------------------------------------------
// From the control loop

absl::Time WorkerJob::Tick(absl::Time now, uint32_t free_peer_slots) {
  std::vector<std::unique_ptr<PeerConnection>> dead;
  absl::Time next = absl::InfiniteFuture();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return next;
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->second->done()) {
        dead.push_back(std::move(it->second));
        conns_.erase(it++);
      } else {
        ++it;
      }
    }

    for (auto& [key, r] : reports_) {
      if (r.has_bitfield) {
        WorkerMessage m;
        pb::PeerBitfield* b = m.mutable_peer_bitfield();
        b->set_job_id(options_.job_id);
        SetPeer(b->mutable_peer(), r.endpoint);
        b->set_bitfield(std::move(r.bitfield));
        send_(std::move(m));
      }
      if (!r.haves.empty()) {
        WorkerMessage m;
        pb::PeerHave* h = m.mutable_peer_have();
        h->set_job_id(options_.job_id);
        SetPeer(h->mutable_peer(), r.endpoint);
        h->mutable_pieces()->Add(r.haves.begin(), r.haves.end());
        send_(std::move(m));
      }
    }
    reports_.clear();
    SendCheckMessages();

    for (uint32_t piece : pool_.TakeOrphans(now, options_.orphan_grace)) {
      SendPieceFailed(piece, pb::ABANDONED, nullptr, "no peer of this worker can serve it");
      pieces_changed_ = true;
    }

    const PacingDecision decision =
        PaceWorkRequests(options_.pacing, GetPacingState(free_peer_slots), now);
    if (decision.start_endgame) {
      pool_.set_endgame(true);
      WakeAll(0);
    } else if (!pool_.endgame() && pool_.HasSlowFetch(now)) {
      WakeAll(0);  // an idle connection may take a slow fetch up
    }

    if (now >= choker_.next_rechoke()) Rechoke(now);

    if (now - done_since_ >= options_.done_delay) SendDoneLocked();
    if (decision.send) {
      WorkerMessage m;
      pb::RequestWork* r = m.mutable_request_work();
      r->set_job_id(options_.job_id);
      r->set_max_pieces(decision.max_pieces);
      r->set_max_peers(decision.max_peers);
      send_(std::move(m));
      last_request_ = now;
      pieces_changed_ = peers_changed_ = became_seed_ = false;
    }
    starved_since_ = decision.starved_since;
    next = std::min(decision.call_again, done_since_ + options_.done_delay);
  }
  for (auto& c : dead) c->Join();
  return next;
}

PacingState WorkerJob::GetPacingState(uint32_t free_peer_slots) const {
  PacingState state;
  state.seeding = verified_.All();
  state.has_peers = !conns_.empty();
  for (const auto& [key, conn] : conns_) state.desired_pieces += conn->desired_pieces();
  state.leases_held = static_cast<uint32_t>(pool_.size());
  state.leases_free = static_cast<uint32_t>(pool_.num_free());
  state.endgame = pool_.endgame();
  state.free_peer_slots = free_peer_slots;
  state.pieces_changed = pieces_changed_;
  state.peers_changed = peers_changed_;
  state.became_seed = became_seed_;
  state.last_request = last_request_;
  state.starved_since = starved_since_;
  return state;
}

void WorkerJob::Rechoke(absl::Time now) {
  std::vector<Choker::PeerStats> stats;
  stats.reserve(conns_.size());
  for (const auto& [key, conn] : conns_) {
    stats.push_back(Choker::PeerStats{key, conn->downloaded_bytes(), conn->uploaded_bytes()});
  }
  const std::vector<Choker::PeerKey> unchoked = choker_.Rechoke(now, stats, verified_.All());
  for (auto& [key, conn] : conns_) {
    conn->SetChoking(!std::binary_search(unchoked.begin(), unchoked.end(), key));
  }
}

void WorkerJob::FillFreeSlots() {
  for (Choker::PeerKey key : choker_.FillFreeSlots()) {
    auto it = conns_.find(key);
    if (it != conns_.end()) it->second->SetChoking(false);
  }
}

void WorkerJob::TakeProgress(pb::Heartbeat* heartbeat) {
  absl::MutexLock lock(&mu_);
  for (const PiecePool::Progress& p : pool_.TakeProgress()) {
    pb::Heartbeat::LeaseProgress* lp = heartbeat->add_progress();
    lp->set_job_id(options_.job_id);
    lp->set_piece(p.piece);
    lp->set_bytes_received(p.bytes);
  }
  pb::Heartbeat::JobTransfer* t = heartbeat->add_jobs();
  t->set_job_id(options_.job_id);
  t->set_downloaded_bytes(downloaded_.load(std::memory_order_relaxed));
  t->set_uploaded_bytes(uploaded_.load(std::memory_order_relaxed));
  uint32_t uploading = 0;
  for (const auto& [key, conn] : conns_) {
    if (!conn->choking() && conn->peer_interested()) ++uploading;
  }
  t->set_upload_peers(uploading);
}

size_t WorkerJob::num_peers() const {
  absl::MutexLock lock(&mu_);
  return conns_.size();
}

WorkerJob::Incoming WorkerJob::CountIncoming(const bt::IpAddress& ip) const {
  absl::MutexLock lock(&mu_);
  Incoming n;
  for (const auto& [key, conn] : conns_) {
    if (!conn->incoming()) continue;
    ++n.all;
    if (conn->endpoint().ip() == ip) ++n.from_ip;
  }
  return n;
}

size_t WorkerJob::num_leases() const {
  absl::MutexLock lock(&mu_);
  return pool_.size();
}

// ---------------------------------------------------------------------------------------------
// PeerConnection::Delegate

void WorkerJob::OnPeerPieces(PeerConnection& conn, const bt::Bitfield& have) {
  {
    absl::MutexLock lock(&mu_);
    pool_.SetPeerPieces(conn.key(), have);
    PendingReport& r = reports_[conn.key()];
    r.endpoint = conn.endpoint();
    r.has_bitfield = true;
    r.bitfield = have.ToBytes();
    r.haves.clear();  // the bitfield supersedes them
    pieces_changed_ = true;
  }
  // The coordinator leases from availability: tell it soon.
  poke_();
}

void WorkerJob::OnPeerHave(PeerConnection& conn, uint32_t piece) {
  absl::MutexLock lock(&mu_);
  pool_.AddPeerPiece(conn.key(), piece);
  PendingReport& r = reports_[conn.key()];
  r.endpoint = conn.endpoint();
  r.haves.push_back(piece);
}

bool WorkerJob::WantsFrom(PeerConnection& conn) {
  absl::MutexLock lock(&mu_);
  return pool_.Wants(conn.key());
}

std::optional<uint32_t> WorkerJob::PickPiece(PeerConnection& conn) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return std::nullopt;
  return pool_.Pick(conn.key(), absl::Now());
}

void WorkerJob::ReleasePiece(PeerConnection& conn, uint32_t piece, bool refused) {
  absl::MutexLock lock(&mu_);
  pool_.Release(piece, conn.key(), absl::Now());
  if (refused) pool_.Exclude(piece, conn.key());
  WakeAll(conn.key());
  pieces_changed_ = true;
}

void WorkerJob::OnProgress(PeerConnection& conn, absl::Span<const PiecePool::Progress> progress,
                           uint64_t new_bytes) {
  downloaded_.fetch_add(new_bytes, std::memory_order_relaxed);
  if (options_.downloaded_bytes != nullptr) {
    options_.downloaded_bytes->fetch_add(new_bytes, std::memory_order_relaxed);
  }
  absl::MutexLock lock(&mu_);
  for (const PiecePool::Progress& p : progress) pool_.SetProgress(p.piece, conn.key(), p.bytes);
}

void WorkerJob::OnPieceVerified(PeerConnection& conn, uint32_t piece, PieceBuffer data) {
  {
    absl::MutexLock lock(&mu_);
    std::vector<PiecePool::PeerKey> others;
    // Revoked, or another peer's copy was first: nothing to do.
    if (stopping_ || !pool_.Take(piece, conn.key(), absl::Now(), &others)) {
      buffers_.Put(data.Release());
      return;
    }
    CancelOn(others, piece, conn.key());
    pieces_changed_ = true;
  }
  // Back-pressure: when the writer is behind, this waits, and the connection with it.
  writer_.Write(piece, std::move(data),
                [this, piece, peer = conn.endpoint()](const absl::Status& written) {
                  OnPieceWritten(piece, peer, written);
                });
}

void WorkerJob::OnPieceWritten(uint32_t piece, const bt::Endpoint& peer,
                               const absl::Status& written) {
  {
    absl::MutexLock lock(&mu_);
    // After StopJob the coordinator wants nothing more (the bytes are on disk regardless).
    if (stopping_) return;
    if (written.ok()) {
      // On disk: ours to upload and announce now, before the coordinator echoes it back in
      // PiecesVerified (which then changes nothing).
      MarkVerified({piece});
      pb::PiecesDone::Piece* done = done_.add_pieces();
      done->set_index(piece);
      SetPeer(done->mutable_peer(), peer);
      if (done_since_ == absl::InfiniteFuture()) done_since_ = absl::Now();
      // Reported at once where waiting would cost: another worker may be fetching the same
      // piece (the coordinator's endgame), or this may be the job's last piece; otherwise
      // Tick sends the batch.
      if (shared_endgame_ || pool_.size() == 0 ||
          static_cast<size_t>(done_.pieces_size()) >= options_.done_batch) {
        SendDoneLocked();
      }
    }
  }
  if (!written.ok()) SendPieceFailed(piece, pb::WRITE_ERROR, &peer, written.ToString());
  poke_();
}

void WorkerJob::SendDoneLocked() {
  if (done_.pieces_size() == 0) return;
  WorkerMessage m;
  *m.mutable_pieces_done() = std::move(done_);
  m.mutable_pieces_done()->set_job_id(options_.job_id);
  done_.Clear();
  done_since_ = absl::InfiniteFuture();
  send_(std::move(m));
}

void WorkerJob::OnPieceCorrupt(PeerConnection& conn, uint32_t piece) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    // Handed back: the coordinator counts the failure and leases it again, maybe to us and
    // the same peer (which may be the only one that has it). A peer that keeps sending bad
    // pieces is dropped and banned by its connection.
    CancelOn(pool_.Remove(piece), piece, conn.key());
    pieces_changed_ = true;
  }
  SendPieceFailed(piece, pb::HASH_MISMATCH, &conn.endpoint(), "SHA-1 mismatch");
  poke_();
}

void WorkerJob::OnClosed(PeerConnection& conn, const absl::Status& reason, bool banned) {
  {
    absl::MutexLock lock(&mu_);
    pool_.RemovePeer(conn.key(), absl::Now());
    reports_.erase(conn.key());
    choker_.RemovePeer(conn.key());
    const std::string name = conn.endpoint().ToString();
    connected_.erase(name);
    if (banned && conn.misbehaved()) {
      banned_.insert(conn.endpoint().ip().ToString());
      if (!conn.remote_peer_id().empty()) banned_peer_ids_.insert(conn.remote_peer_id());
      // Banned by its address: its other connections (other ports) end now, not whenever
      // they would.
      for (auto& [key, other] : conns_) {
        if (key != conn.key() && other->endpoint().ip() == conn.endpoint().ip()) other->Stop();
      }
    } else if (banned) {
      shunned_.insert(name);
    }
    // An incoming peer's port is not where it listens: nothing to remember it by.
    if (!banned && !conn.incoming() && conn.peer_is_seed() && verified_.All()) {
      seeds_.insert(name);
    }
    if (stopping_) return;
    FillFreeSlots();
    pb::PeerAddress peer;
    SetPeer(&peer, conn.endpoint());
    // The client's id prefix ("-TR3000-", "A2-1-36-") tells whose implementation it was.
    std::string why = reason.ToString();
    if (!conn.remote_peer_id().empty()) {
      absl::StrAppend(&why, " (peer id ", absl::CHexEscape(conn.remote_peer_id().substr(0, 8)),
                      "...)");
    }
    SendPeerClosed(peer, std::move(why), banned, banned && conn.misbehaved());
    // Its pieces are free for the others; and there is a slot for another peer.
    WakeAll(conn.key());
    pieces_changed_ = peers_changed_ = true;
  }
  poke_();
}

void WorkerJob::OnPeersLearned(PeerConnection& conn, const std::vector<bt::Endpoint>& peers) {
  WorkerMessage m;
  pb::PeersLearned* learned = m.mutable_peers_learned();
  learned->set_job_id(options_.job_id);
  SetPeer(learned->mutable_source(), conn.endpoint());
  for (const bt::Endpoint& e : peers) SetPeer(learned->add_peers(), e);
  send_(std::move(m));
}

std::vector<bt::Endpoint> WorkerJob::PexPeers(PeerConnection& conn) {
  absl::MutexLock lock(&mu_);
  std::vector<bt::Endpoint> peers;
  for (const auto& [key, other] : conns_) {
    // A peer that dialled us came from a port it does not listen on: nobody could use it.
    if (other.get() == &conn || other->incoming()) continue;
    peers.push_back(other->endpoint());
    if (peers.size() == 2 * bt::kMaxPexPeers) break;
  }
  return peers;
}

absl::Status WorkerJob::CheckPeerId(PeerConnection& conn, std::string_view peer_id) {
  absl::MutexLock lock(&mu_);
  const absl::string_view id(peer_id.data(), peer_id.size());  // Debian's absl: not std's
  if (!banned_peer_ids_.contains(id)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("peer id ", absl::CHexEscape(id.substr(0, 8)),
                   "... was banned (it misbehaved from another address)"));
}

bt::Bitfield WorkerJob::OurPieces(PeerConnection& conn) {
  absl::MutexLock lock(&mu_);
  if (!streaming()) return verified_;
  bt::Bitfield held(verified_.size());
  for (uint32_t p = 0; p < verified_.size(); ++p) {
    if (verified_.Get(p) && cache_.Has(p)) held.Set(p);
  }
  return held;
}

absl::Status WorkerJob::ReadBlock(PeerConnection& conn, uint32_t piece, uint32_t begin,
                                  uint32_t length, char* out) {
  // No job lock: ContentFiles and PieceCache are thread-safe, and the connection only asks
  // for pieces it has announced, which are verified and on disk (or were held when announced:
  // one evicted since fails the upload, and the connection ends).
  if (streaming()) return cache_.Read(piece, begin, length, out);
  return files_->ReadBlock(piece, begin, length, out);
}

void WorkerJob::OnPeerInterest(PeerConnection& conn, bool interested) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (interested) {
    if (choker_.SetInterested(conn.key(), true)) conn.SetChoking(false);
  } else {
    choker_.SetInterested(conn.key(), false);
    FillFreeSlots();
  }
}

void WorkerJob::OnUploaded(PeerConnection& conn, uint64_t new_bytes) {
  uploaded_.fetch_add(new_bytes, std::memory_order_relaxed);
  if (options_.uploaded_bytes != nullptr) {
    options_.uploaded_bytes->fetch_add(new_bytes, std::memory_order_relaxed);
  }
}

}  // namespace swarm::peer_svc
