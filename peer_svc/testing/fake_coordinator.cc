#include "peer_svc/testing/fake_coordinator.h"

#include <algorithm>
#include <utility>

namespace swarm::peer_svc::testing {

FakeCoordinator::FakeCoordinator(const TestTorrent& t, std::string output_dir,
                                 std::vector<pb::PeerAddress> peers)
    : FakeCoordinator(t, std::move(output_dir), std::move(peers), Options()) {}

FakeCoordinator::FakeCoordinator(const TestTorrent& t, std::string output_dir,
                                 std::vector<pb::PeerAddress> peers, const Options& options)
    : t_(t), options_(options), output_dir_(std::move(output_dir)), peers_(std::move(peers)) {
  absl::MutexLock lock(&mu);
  for (uint32_t p = 0; p < t.metainfo.num_pieces(); ++p) needed.insert(p);
}

void FakeCoordinator::SetVerified(const std::string& bitfield) {
  absl::MutexLock lock(&mu);
  verified_ = bitfield;
  for (uint32_t p = 0; p < t_.metainfo.num_pieces(); ++p) {
    if (p / 8 < bitfield.size() && (static_cast<uint8_t>(bitfield[p / 8]) & (0x80 >> (p % 8)))) {
      needed.erase(p);
    }
  }
}

bool FakeCoordinator::Write(Stream* stream, const pb::CoordinatorMessage& m) {
  absl::MutexLock lock(&write_mu_);
  return stream->Write(m);
}

bool FakeCoordinator::Push(const pb::CoordinatorMessage& m) {
  absl::MutexLock lock(&write_mu_);
  return stream_ != nullptr && stream_->Write(m);
}

grpc::Status FakeCoordinator::Work(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<pb::CoordinatorMessage, pb::WorkerMessage>* stream) {
  pb::WorkerMessage in;
  if (!stream->Read(&in) || !in.has_register_()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "register first");
  }
  {
    absl::MutexLock lock(&mu);
    if (in.register_().auth_token() != options_.auth_token) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad token");
    }
    registers.push_back(in.register_());
  }
  pb::CoordinatorMessage out;
  out.mutable_welcome()->set_worker_id(7);
  out.mutable_welcome()->set_heartbeat_interval_ms(100);
  Write(stream, out);
  out.Clear();
  pb::StartJob* start = out.mutable_start_job();
  start->set_job_id(job_id);
  start->set_output_dir(output_dir_);
  start->set_torrent_size(t_.torrent.size());
  bool stopped;
  {
    absl::MutexLock lock(&mu);
    start->set_verified(verified_);
    // Complete from the start: a seeding job, which only CancelJob would stop.
    stopped = needed.empty();
  }
  Write(stream, out);
  {
    absl::MutexLock lock(&write_mu_);
    stream_ = stream;
  }

  size_t peers_given = 0;
  std::set<uint32_t> leased;  // to this session
  while (stream->Read(&in)) {
    std::vector<pb::CoordinatorMessage> replies;
    {
      absl::MutexLock lock(&mu);
      switch (in.kind_case()) {
        case pb::WorkerMessage::kRequestWork: {
          const pb::RequestWork& r = in.request_work();
          ++work_requests;
          request_log.push_back(r);
          if (r.job_id() != job_id) break;
          const bool progressed = std::any_of(heartbeats.begin(), heartbeats.end(),
                                              [](const auto& h) { return h.progress_size() > 0; });
          if (peers_given < peers_.size() && r.max_peers() > 0 &&
              (peers_given == 0 || !options_.stagger_peers || progressed)) {
            pb::CoordinatorMessage m;
            m.mutable_add_peers()->set_job_id(job_id);
            *m.mutable_add_peers()->add_peers() = peers_[peers_given++];
            replies.push_back(m);
          }
          pb::CoordinatorMessage m;
          m.mutable_grant_leases()->set_job_id(job_id);
          for (auto it = needed.begin(); options_.grant_leases && it != needed.end() &&
                                         m.grant_leases().leases_size() < r.max_pieces();) {
            pb::Lease* l = m.mutable_grant_leases()->add_leases();
            l->set_piece(*it);
            l->set_ttl_ms(30000);
            leased.insert(*it);
            it = needed.erase(it);
          }
          if (m.grant_leases().leases_size() > 0) replies.push_back(m);
          break;
        }
        case pb::WorkerMessage::kPiecesDone:
          for (const pb::PiecesDone::Piece& piece : in.pieces_done().pieces()) {
            if (!done.insert(piece.index()).second) ++duplicate_dones;
            leased.erase(piece.index());
            dones.push_back(piece);
          }
          done_batches.push_back(in.pieces_done().pieces_size());
          break;
        case pb::WorkerMessage::kPieceFailed:
          failures.push_back(in.piece_failed());
          if (leased.erase(in.piece_failed().piece()) > 0) {
            needed.insert(in.piece_failed().piece());
          }
          break;
        case pb::WorkerMessage::kPeerBitfield:
          bitfields.push_back(in.peer_bitfield());
          break;
        case pb::WorkerMessage::kPeersLearned:
          learned.push_back(in.peers_learned());
          break;
        case pb::WorkerMessage::kPeerClosed:
          closed.push_back(in.peer_closed());
          break;
        case pb::WorkerMessage::kHeartbeat:
          heartbeats.push_back(in.heartbeat());
          break;
        default:
          break;
      }
      if (!stopped && options_.stop_when_done && done.size() == t_.metainfo.num_pieces()) {
        pb::CoordinatorMessage m;
        m.mutable_stop_job()->set_job_id(job_id);
        replies.push_back(m);
        stopped = true;
      }
    }
    for (const auto& m : replies) Write(stream, m);
  }
  {
    absl::MutexLock lock(&write_mu_);
    stream_ = nullptr;
  }
  // The worker is gone: its leases are needed again.
  absl::MutexLock lock(&mu);
  needed.insert(leased.begin(), leased.end());
  return grpc::Status::OK;
}

grpc::Status FakeCoordinator::FetchTorrent(grpc::ServerContext*, const pb::FetchTorrentRequest* req,
                                           pb::FetchTorrentResponse* resp) {
  if (req->job_id() != job_id) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no job");
  // Small chunks, so the worker has to put the torrent together.
  resp->set_data(t_.torrent.substr(std::min<size_t>(req->offset(), t_.torrent.size()), 100));
  resp->set_total_size(t_.torrent.size());
  return grpc::Status::OK;
}

bool FakeCoordinator::WaitForAllDone(absl::Duration timeout) {
  absl::MutexLock lock(&mu);
  auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return done.size() == t_.metainfo.num_pieces();
  };
  return mu.AwaitWithTimeout(absl::Condition(&all), timeout);
}

bool FakeCoordinator::WaitUntil(const std::function<bool(FakeCoordinator&)>& done,
                                absl::Duration timeout) {
  absl::MutexLock lock(&mu);
  auto cond = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done(*this); };
  return mu.AwaitWithTimeout(absl::Condition(&cond), timeout);
}

}  // namespace swarm::peer_svc::testing
