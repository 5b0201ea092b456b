#include "peer_svc/metadata_job.h"

#include <algorithm>
#include <utility>

namespace swarm::peer_svc {
namespace {

// Parts of MetadataFound: well under gRPC's 4 MiB message limit.
constexpr size_t kPartBytes = 1 << 20;

}  // namespace

MetadataJob::MetadataJob(Options options, std::function<void(pb::WorkerMessage)> send)
    : options_(std::move(options)),
      send_(std::move(send)),
      fetcher_(
          options_.fetcher, [this](std::string info) { OnDone(std::move(info)); },
          [this](const bt::Endpoint& peer, const absl::Status& why, bool banned) {
            OnPeerEnded(peer, why, banned);
          }) {}

MetadataJob::~MetadataJob() { Stop(); }

void MetadataJob::Start() { AskForPeers(); }

void MetadataJob::Stop() { fetcher_.Stop(); }

void MetadataJob::AddPeers(const pb::AddPeers& add) {
  for (const pb::PeerAddress& p : add.peers()) {
    absl::StatusOr<bt::Endpoint> endpoint = bt::Endpoint::Make(p.ip(), p.port());
    if (endpoint.ok() && fetcher_.AddPeer(*endpoint)) continue;
    // Handed back at once, so that the coordinator does not count it as ours.
    pb::WorkerMessage m;
    pb::PeerClosed* c = m.mutable_peer_closed();
    c->set_job_id(options_.job_id);
    *c->mutable_peer() = p;
    c->set_reason(endpoint.ok() ? "not wanted for the metadata (complete, banned or held already)"
                                : std::string(endpoint.status().message()));
    send_(std::move(m));
  }
}

void MetadataJob::AskForPeers() {
  if (fetcher_.done()) return;
  const size_t room = static_cast<size_t>(options_.fetcher.max_peers) -
                      std::min<size_t>(fetcher_.peers(), options_.fetcher.max_peers);
  pb::WorkerMessage m;
  pb::RequestWork* r = m.mutable_request_work();
  r->set_job_id(options_.job_id);
  r->set_max_pieces(0);
  r->set_max_peers(static_cast<uint32_t>(room));
  send_(std::move(m));
}

void MetadataJob::OnDone(std::string info) {
  for (size_t offset = 0; offset < info.size(); offset += kPartBytes) {
    pb::WorkerMessage m;
    pb::MetadataFound* f = m.mutable_metadata_found();
    f->set_job_id(options_.job_id);
    f->set_total_size(static_cast<uint32_t>(info.size()));
    f->set_offset(static_cast<uint32_t>(offset));
    f->set_data(info.substr(offset, kPartBytes));
    send_(std::move(m));
  }
}

void MetadataJob::OnPeerEnded(const bt::Endpoint& peer, const absl::Status& why, bool banned) {
  pb::WorkerMessage m;
  pb::PeerClosed* c = m.mutable_peer_closed();
  c->set_job_id(options_.job_id);
  c->mutable_peer()->set_ip(peer.ip().ToString());
  c->mutable_peer()->set_port(peer.port());
  c->set_reason(why.ok() ? "the metadata is complete" : why.ToString());
  c->set_banned(banned);
  c->set_misbehaved(banned);
  send_(std::move(m));
  // Its place is free: another peer, while the dictionary is still missing.
  AskForPeers();
}

}  // namespace swarm::peer_svc
