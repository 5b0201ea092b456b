#include "peer_svc/piece_pool.h"

#include <algorithm>

namespace swarm::peer_svc {

bool PiecePool::AddLease(uint32_t piece, absl::Time now) {
  if (piece >= num_pieces_) return false;
  auto [it, inserted] = leases_.try_emplace(piece);
  if (!inserted) return false;
  it->second.free_since = now;
  free_.insert(piece);
  return true;
}

std::vector<PiecePool::PeerKey> PiecePool::Remove(uint32_t piece) {
  std::vector<PeerKey> fetchers;
  auto it = leases_.find(piece);
  if (it == leases_.end()) return fetchers;
  for (const Fetcher& f : it->second.fetchers) fetchers.push_back(f.peer);
  leases_.erase(it);
  free_.erase(piece);
  return fetchers;
}

namespace {
// Fetches longer than this many typical ones are slow, and none shorter than kMinSlowFetch:
// a second copy costs bandwidth, worth it only where the first is clearly lagging.
constexpr int kSlowFactor = 4;
constexpr absl::Duration kMinSlowFetch = absl::Milliseconds(250);
}  // namespace

absl::Duration PiecePool::SlowAfter() const {
  if (typical_fetch_ <= absl::ZeroDuration()) return absl::InfiniteDuration();
  return std::max(kMinSlowFetch, kSlowFactor * typical_fetch_);
}

bool PiecePool::Take(uint32_t piece, PeerKey peer, absl::Time now, std::vector<PeerKey>* others) {
  auto it = leases_.find(piece);
  if (it == leases_.end()) return false;
  const std::vector<Fetcher>& fetchers = it->second.fetchers;
  auto winner = std::find_if(fetchers.begin(), fetchers.end(),
                             [peer](const Fetcher& f) { return f.peer == peer; });
  if (winner == fetchers.end()) return false;
  const absl::Duration took = std::max(absl::ZeroDuration(), now - winner->since);
  typical_fetch_ =
      typical_fetch_ <= absl::ZeroDuration() ? took : typical_fetch_ * 0.8 + took * 0.2;
  for (const Fetcher& f : fetchers) {
    if (f.peer != peer) others->push_back(f.peer);
  }
  leases_.erase(it);
  return true;
}

PiecePool::Peer& PiecePool::PeerFor(PeerKey peer) {
  Peer& p = peers_[peer];
  if (p.have.size() != num_pieces_) p.have = bt::Bitfield(num_pieces_);
  return p;
}

void PiecePool::SetPeerPieces(PeerKey peer, const bt::Bitfield& have) {
  Peer& p = PeerFor(peer);
  if (have.size() == num_pieces_) p.have = have;
}

void PiecePool::AddPeerPiece(PeerKey peer, uint32_t piece) { PeerFor(peer).have.Set(piece); }

void PiecePool::RemovePeer(PeerKey peer, absl::Time now) {
  for (auto& [piece, lease] : leases_) {
    auto& f = lease.fetchers;
    auto it = std::find_if(f.begin(), f.end(), [peer](const Fetcher& x) { return x.peer == peer; });
    if (it == f.end()) continue;
    f.erase(it);
    if (f.empty()) {
      free_.insert(piece);
      lease.free_since = now;
      lease.reported_bytes = 0;
    }
  }
  peers_.erase(peer);
}

void PiecePool::Exclude(uint32_t piece, PeerKey peer) {
  auto it = peers_.find(peer);
  if (it != peers_.end()) it->second.excluded.insert(piece);
}

std::optional<uint32_t> PiecePool::Pick(PeerKey peer, absl::Time now) {
  auto pit = peers_.find(peer);
  if (pit == peers_.end()) return std::nullopt;
  const Peer& p = pit->second;
  for (uint32_t piece : free_) {
    if (!CanFetch(p, piece)) continue;
    free_.erase(piece);
    leases_[piece].fetchers.push_back(Fetcher{peer, 0, now});
    return piece;
  }
  // A second copy of a piece in flight elsewhere: in endgame the least advanced one, where it
  // saves the most time; before, only a slow one, the longest running first.
  const absl::Duration slow_after = SlowAfter();
  Lease* best = nullptr;
  uint32_t best_piece = 0;
  for (auto& [piece, lease] : leases_) {
    if (lease.fetchers.size() != 1 || lease.fetchers[0].peer == peer) continue;
    if (!CanFetch(p, piece)) continue;
    const Fetcher& f = lease.fetchers[0];
    if (!endgame_ && now - f.since <= slow_after) continue;
    const bool better = best == nullptr || (endgame_ ? f.bytes < best->fetchers[0].bytes
                                                     : f.since < best->fetchers[0].since);
    if (better) {
      best = &lease;
      best_piece = piece;
    }
  }
  if (best == nullptr) return std::nullopt;
  best->fetchers.push_back(Fetcher{peer, 0, now});
  return best_piece;
}

bool PiecePool::HasSlowFetch(absl::Time now) const {
  const absl::Duration slow_after = SlowAfter();
  return std::any_of(leases_.begin(), leases_.end(), [&](const auto& kv) {
    const auto& f = kv.second.fetchers;
    return f.size() == 1 && now - f[0].since > slow_after;
  });
}

bool PiecePool::Wants(PeerKey peer) const {
  auto pit = peers_.find(peer);
  if (pit == peers_.end()) return false;
  for (const auto& [piece, lease] : leases_) {
    if (CanFetch(pit->second, piece)) return true;
  }
  return false;
}

void PiecePool::Release(uint32_t piece, PeerKey peer, absl::Time now) {
  auto it = leases_.find(piece);
  if (it == leases_.end()) return;
  auto& f = it->second.fetchers;
  auto fit = std::find_if(f.begin(), f.end(), [peer](const Fetcher& x) { return x.peer == peer; });
  if (fit == f.end()) return;
  f.erase(fit);
  if (f.empty()) {
    free_.insert(piece);
    it->second.free_since = now;
    it->second.reported_bytes = 0;
  }
}

void PiecePool::SetProgress(uint32_t piece, PeerKey peer, uint32_t bytes) {
  auto it = leases_.find(piece);
  if (it == leases_.end()) return;
  for (Fetcher& f : it->second.fetchers) {
    if (f.peer == peer) f.bytes = bytes;
  }
}

std::vector<PiecePool::Progress> PiecePool::TakeProgress() {
  std::vector<Progress> out;
  for (auto& [piece, lease] : leases_) {
    uint32_t bytes = 0;
    for (const Fetcher& f : lease.fetchers) bytes = std::max(bytes, f.bytes);
    if (bytes > lease.reported_bytes) {
      lease.reported_bytes = bytes;
      out.push_back(Progress{piece, bytes});
    }
  }
  return out;
}

std::vector<uint32_t> PiecePool::TakeOrphans(absl::Time now, absl::Duration grace) {
  std::vector<uint32_t> orphans;
  for (uint32_t piece : free_) {
    if (now - leases_[piece].free_since < grace) continue;
    const bool fetchable = std::any_of(peers_.begin(), peers_.end(),
                                       [&](const auto& kv) { return CanFetch(kv.second, piece); });
    if (!fetchable) orphans.push_back(piece);
  }
  for (uint32_t piece : orphans) {
    leases_.erase(piece);
    free_.erase(piece);
  }
  return orphans;
}

}  // namespace swarm::peer_svc
