#include "peer_svc/choker.h"

#include <algorithm>
#include <tuple>

namespace swarm::peer_svc {

Choker::Choker(const Options& options, absl::Time now)
    : options_(options), next_rechoke_(now + options.rechoke_interval) {}

void Choker::AddPeer(PeerKey key, absl::Time now) {
  Peer& p = peers_[key];
  p = Peer();
  p.added = now;
  p.sampled = now;
}

void Choker::RemovePeer(PeerKey key) {
  peers_.erase(key);
  if (optimistic_ == key) optimistic_.reset();
}

bool Choker::unchoked(PeerKey key) const {
  auto it = peers_.find(key);
  return it != peers_.end() && it->second.unchoked;
}

bool Choker::interested(PeerKey key) const {
  auto it = peers_.find(key);
  return it != peers_.end() && it->second.interested;
}

uint32_t Choker::num_uploading() const {
  uint32_t n = 0;
  for (const auto& [key, p] : peers_) n += p.unchoked && p.interested ? 1 : 0;
  return n;
}

uint32_t Choker::RegularSlotsUsed() const {
  uint32_t n = 0;
  for (const auto& [key, p] : peers_) {
    // An unchoked peer that lost interest holds no slot: it requests nothing.
    if (p.unchoked && p.interested && optimistic_ != key) ++n;
  }
  return n;
}

bool Choker::SetInterested(PeerKey key, bool interested) {
  auto it = peers_.find(key);
  if (it == peers_.end()) return false;
  Peer& p = it->second;
  p.interested = interested;
  if (!interested || p.unchoked) return false;
  if (RegularSlotsUsed() >= options_.upload_slots) return false;
  p.unchoked = true;
  return true;
}

std::vector<Choker::PeerKey> Choker::FillFreeSlots() {
  std::vector<PeerKey> waiting;
  for (const auto& [key, p] : peers_) {
    if (p.interested && !p.unchoked) waiting.push_back(key);
  }
  std::sort(waiting.begin(), waiting.end(), [&](PeerKey a, PeerKey b) {
    const Peer& pa = peers_.at(a);
    const Peer& pb = peers_.at(b);
    return std::make_tuple(-pa.rate, pa.added, a) < std::make_tuple(-pb.rate, pb.added, b);
  });
  const uint32_t used = RegularSlotsUsed();
  const size_t free = options_.upload_slots > used ? options_.upload_slots - used : 0;
  if (waiting.size() > free) waiting.resize(free);
  for (PeerKey key : waiting) peers_[key].unchoked = true;
  return waiting;
}

std::optional<Choker::PeerKey> Choker::PickOptimistic(const std::vector<PeerKey>& regular) const {
  std::optional<PeerKey> best;
  for (const auto& [key, p] : peers_) {
    if (!p.interested || std::find(regular.begin(), regular.end(), key) != regular.end()) continue;
    if (!best) {
      best = key;
      continue;
    }
    const Peer& b = peers_.at(*best);
    // Longest since its last optimistic unchoke (never: first); then the newest connection
    // (a newcomer has nothing to offer yet and needs a first piece); then the lowest key.
    if (std::make_tuple(p.last_optimistic, -absl::ToUnixNanos(p.added), key) <
        std::make_tuple(b.last_optimistic, -absl::ToUnixNanos(b.added), *best)) {
      best = key;
    }
  }
  return best;
}

std::vector<Choker::PeerKey> Choker::Rechoke(absl::Time now, absl::Span<const PeerStats> stats,
                                             bool seeding) {
  for (const PeerStats& s : stats) {
    auto it = peers_.find(s.key);
    if (it == peers_.end()) continue;
    Peer& p = it->second;
    const double seconds = std::max(absl::ToDoubleSeconds(now - p.sampled), 1e-3);
    // Counters never go back; a smaller value would be a caller's bug: read it as no transfer.
    const uint64_t from = s.downloaded > p.downloaded ? s.downloaded - p.downloaded : 0;
    const uint64_t to = s.uploaded > p.uploaded ? s.uploaded - p.uploaded : 0;
    p.rate = static_cast<double>(seeding ? to : from) / seconds;
    p.downloaded = s.downloaded;
    p.uploaded = s.uploaded;
    p.sampled = now;
  }

  std::vector<PeerKey> regular;
  for (const auto& [key, p] : peers_) {
    if (p.interested) regular.push_back(key);
  }
  // Fastest first; on a tie the peers already unchoked keep their slots (no churn while
  // rates are equal, e.g. all zero at the start), then the older connection.
  std::sort(regular.begin(), regular.end(), [&](PeerKey a, PeerKey b) {
    const Peer& pa = peers_.at(a);
    const Peer& pb = peers_.at(b);
    return std::make_tuple(-pa.rate, !pa.unchoked, pa.added, a) <
           std::make_tuple(-pb.rate, !pb.unchoked, pb.added, b);
  });
  if (regular.size() > options_.upload_slots) regular.resize(options_.upload_slots);

  const bool keep_optimistic =
      optimistic_ && peers_.at(*optimistic_).interested &&
      std::find(regular.begin(), regular.end(), *optimistic_) == regular.end() &&
      now - optimistic_since_ < options_.optimistic_interval;
  if (!keep_optimistic) {
    optimistic_ = PickOptimistic(regular);
    optimistic_since_ = now;
    if (optimistic_) peers_.at(*optimistic_).last_optimistic = now;
  }

  std::vector<PeerKey> unchoked = regular;
  if (optimistic_) unchoked.push_back(*optimistic_);
  std::sort(unchoked.begin(), unchoked.end());
  for (auto& [key, p] : peers_) {
    p.unchoked = std::binary_search(unchoked.begin(), unchoked.end(), key);
  }
  next_rechoke_ = now + options_.rechoke_interval;
  return unchoked;
}

}  // namespace swarm::peer_svc
