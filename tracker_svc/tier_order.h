// The BEP 12 order of each torrent's trackers: every tier is shuffled once, the first time the
// torrent is seen (or when its tier list changes), and a tracker that answered moves to the
// front of its tier so that it is tried first next time. Thread-safe; remembers at most
// max_torrents torrents (the oldest are forgotten first).
//
//   tracker_svc::TierOrder order(tracker_svc::TierOrder::Options{});
//   for (const auto& tier : order.Order(info_hash, tiers))
//     for (const std::string& url : tier)
//       if (Announce(url).ok()) { order.MoveToFront(info_hash, url); return; }
#ifndef SWARM_TRACKER_SVC_TIER_ORDER_H_
#define SWARM_TRACKER_SVC_TIER_ORDER_H_

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace swarm::tracker_svc {

class TierOrder {
 public:
  // Announce URLs by tier, best tier first.
  using Tiers = std::vector<std::vector<std::string>>;

  struct Options {
    size_t max_torrents = 10'000;
    // Shuffle seed; 0 picks a random one (tests pass a fixed seed).
    uint64_t seed = 0;
  };

  explicit TierOrder(Options options);

  // The current order of `tiers` for the torrent `key` (its info-hash). Duplicate URLs (after
  // their first appearance) and empty tiers are dropped.
  Tiers Order(const std::string& key, const Tiers& tiers);

  // Moves `url` to the front of its tier for `key`; no-op when unknown.
  void MoveToFront(const std::string& key, const std::string& url);

 private:
  struct Entry {
    Tiers given;    // as the caller passed them, to notice a changed list
    Tiers ordered;  // the BEP 12 order
  };

  const size_t max_torrents_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> insertion_order_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::tracker_svc

#endif  // SWARM_TRACKER_SVC_TIER_ORDER_H_
