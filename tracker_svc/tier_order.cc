#include "tracker_svc/tier_order.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"

namespace swarm::tracker_svc {
namespace {

TierOrder::Tiers Clean(const TierOrder::Tiers& tiers) {
  absl::flat_hash_set<std::string> seen;
  TierOrder::Tiers out;
  for (const auto& tier : tiers) {
    std::vector<std::string> kept;
    for (const std::string& url : tier) {
      if (!url.empty() && seen.insert(url).second) kept.push_back(url);
    }
    if (!kept.empty()) out.push_back(std::move(kept));
  }
  return out;
}

}  // namespace

TierOrder::TierOrder(Options options)
    : max_torrents_(std::max<size_t>(1, options.max_torrents)),
      rng_(options.seed != 0 ? options.seed : std::random_device()()) {}

TierOrder::Tiers TierOrder::Order(const std::string& key, const Tiers& tiers) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.given == tiers) return it->second.ordered;
  Entry entry{tiers, Clean(tiers)};
  for (auto& tier : entry.ordered) std::shuffle(tier.begin(), tier.end(), rng_);
  if (it != entries_.end()) {
    it->second = entry;
    return entry.ordered;
  }
  while (entries_.size() >= max_torrents_ && !insertion_order_.empty()) {
    entries_.erase(insertion_order_.front());
    insertion_order_.pop_front();
  }
  insertion_order_.push_back(key);
  entries_.emplace(key, entry);
  return entry.ordered;
}

void TierOrder::MoveToFront(const std::string& key, const std::string& url) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  for (auto& tier : it->second.ordered) {
    auto pos = std::find(tier.begin(), tier.end(), url);
    if (pos != tier.end()) {
      std::rotate(tier.begin(), pos, pos + 1);
      return;
    }
  }
}

}  // namespace swarm::tracker_svc
