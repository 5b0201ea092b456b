#include "coordinator/peer_pool.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace swarm::coordinator {
namespace {

// The IP address part of an "ip:port" key (the key itself if it is not one).
std::string IpOf(const std::string& key) {
  absl::StatusOr<bt::Endpoint> endpoint = bt::Endpoint::Parse(key);
  return endpoint.ok() ? endpoint->ip().ToString() : key;
}

}  // namespace

size_t PeerPool::Add(absl::Span<const bt::Endpoint> peers) {
  size_t added = 0;
  for (const bt::Endpoint& p : peers) {
    std::string key = p.ToString();
    if (index_.contains(key) || banned_ips_.contains(p.ip().ToString())) continue;
    Entry e;
    e.addr = p;
    e.key = std::move(key);
    if (entries_.size() < options_.max_peers) {
      index_.emplace(e.key, entries_.size());
      entries_.push_back(std::move(e));
      ++added;
      continue;
    }
    // Full: a newcomer takes the place of a peer that was tried and failed and is held by
    // nobody, so that a tracker handing out thousands of dead addresses cannot keep the
    // live ones another tracker knows out for good. Without such a place it is dropped.
    const auto dead = std::find_if(entries_.begin(), entries_.end(), [](const Entry& old) {
      return !old.banned && old.holders.empty() && old.failures > 0;
    });
    if (dead == entries_.end()) continue;
    index_.erase(dead->key);
    index_.emplace(e.key, static_cast<size_t>(dead - entries_.begin()));
    *dead = std::move(e);
    ++added;
  }
  return added;
}

std::vector<bt::Endpoint> PeerPool::Take(WorkerId worker, size_t max, absl::Time now,
                                         const absl::flat_hash_set<std::string>& exclude,
                                         const std::string& host) {
  std::vector<bt::Endpoint> out;
  if (max == 0 || worker == 0) return out;
  // (holders, failures, index): free peers first, then the least shared.
  std::vector<std::tuple<size_t, int, size_t>> candidates;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (e.banned || e.free_at > now || exclude.contains(e.key)) continue;
    if (!e.holders.empty() && !Shareable(e, host)) continue;
    candidates.emplace_back(e.holders.size(), e.failures, i);
  }
  const size_t n = std::min(max, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + n, candidates.end());
  for (size_t i = 0; i < n; ++i) {
    Entry& e = entries_[std::get<2>(candidates[i])];
    if (e.holders.empty()) ++assigned_;
    e.holders.push_back({worker, host});
    out.push_back(e.addr);
  }
  return out;
}

bool PeerPool::Shareable(const Entry& e, const std::string& host) {
  if (host.empty()) return false;
  for (const Holder& h : e.holders) {
    if (h.host.empty() || h.host == host) return false;
  }
  return true;
}

bool PeerPool::Release(WorkerId worker, const std::string& key, absl::Time now) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  Entry& e = entries_[it->second];
  if (!DropHolder(e, worker)) return false;
  ++e.failures;
  absl::Duration backoff = options_.base_backoff;
  for (int i = 1; i < e.failures && backoff < options_.max_backoff; ++i) backoff *= 2;
  e.free_at = now + std::min(backoff, options_.max_backoff);
  return true;
}

bool PeerPool::DropHolder(Entry& e, WorkerId worker) {
  auto h = std::find_if(e.holders.begin(), e.holders.end(),
                        [worker](const Holder& h) { return h.worker == worker; });
  if (worker == 0 || h == e.holders.end()) return false;
  e.holders.erase(h);
  if (e.holders.empty()) --assigned_;
  return true;
}

void PeerPool::MarkConnected(const std::string& key) {
  auto it = index_.find(key);
  if (it != index_.end()) entries_[it->second].failures = 0;
}

void PeerPool::BanAddress(const std::string& key) {
  const std::string ip = IpOf(key);
  banned_ips_.insert(ip);
  // Every port of the address (a scan, but bans are rare).
  for (Entry& e : entries_) {
    if (!e.banned && e.addr.port() != 0 && e.addr.ip().ToString() == ip) BanEntry(e);
  }
  Ban(key);
}

void PeerPool::Ban(const std::string& key) {
  if (!index_.contains(key)) {
    // Remembered beyond max_peers on purpose: a ban must stick.
    Entry e;
    e.key = key;
    e.banned = true;
    index_.emplace(key, entries_.size());
    entries_.push_back(std::move(e));
    ++banned_;
    return;
  }
  BanEntry(entries_[index_[key]]);
}

void PeerPool::BanEntry(Entry& e) {
  if (e.banned) return;
  e.banned = true;
  ++banned_;
  if (!e.holders.empty()) {
    e.holders.clear();
    --assigned_;
  }
}

std::vector<std::string> PeerPool::ReleaseWorker(WorkerId worker) {
  std::vector<std::string> keys;
  if (worker == 0) return keys;
  for (Entry& e : entries_) {
    if (DropHolder(e, worker)) keys.push_back(e.key);
  }
  return keys;
}

bool PeerPool::RecordBadPiece(const std::string& key) {
  const int count = ++bad_pieces_[IpOf(key)];
  if (count != options_.ban_after_bad_pieces) return false;
  BanAddress(key);
  return true;
}

std::vector<bt::Endpoint> PeerPool::KnownPeers() const {
  std::vector<bt::Endpoint> peers;
  for (const Entry& e : entries_) {
    if (!e.banned) peers.push_back(e.addr);
  }
  return peers;
}

bool PeerPool::IsBanned(const std::string& key) const {
  auto it = index_.find(key);
  return (it != index_.end() && entries_[it->second].banned) || banned_ips_.contains(IpOf(key));
}

int PeerPool::bad_pieces(const std::string& key) const {
  auto it = bad_pieces_.find(IpOf(key));
  return it == bad_pieces_.end() ? 0 : it->second;
}

PeerState PeerPool::state(const std::string& key, absl::Time now) const {
  auto it = index_.find(key);
  if (it == index_.end()) return PeerState::kUnknown;
  const Entry& e = entries_[it->second];
  if (e.banned) return PeerState::kBanned;
  if (!e.holders.empty()) return PeerState::kAssigned;
  if (e.free_at > now) return PeerState::kBackoff;
  return PeerState::kKnown;
}

WorkerId PeerPool::assigned_to(const std::string& key) const {
  auto it = index_.find(key);
  if (it == index_.end() || entries_[it->second].holders.empty()) return 0;
  return entries_[it->second].holders.front().worker;
}

size_t PeerPool::available(absl::Time now,
                           const absl::flat_hash_set<std::string>& exclude) const {
  return std::count_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return !e.banned && e.holders.empty() && e.free_at <= now && !exclude.contains(e.key);
  });
}

size_t PeerPool::assigned_to_worker(WorkerId worker) const {
  size_t n = 0;
  if (worker == 0) return 0;
  for (const Entry& e : entries_) {
    for (const Holder& h : e.holders) n += h.worker == worker ? 1 : 0;
  }
  return n;
}

}  // namespace swarm::coordinator
