// A UDP tracker client (BEP 15): connect, announce and scrape, with connection ids reused for
// their one-minute life, transaction ids checked (stale or foreign datagrams are ignored), and
// retransmission after 15 * 2^n seconds (n = 0..8) cut short by the caller's deadline, so a
// call always ends by then. Thread-safe; the connection-id cache is shared by all calls.
//
//   tracker_svc::UdpTrackerClient udp(tracker_svc::UdpTrackerClient::Options{});
//   SWARM_ASSIGN_OR_RETURN(bt::tracker::TrackerUrl url, bt::tracker::ParseTrackerUrl(u));
//   absl::StatusOr<bt::tracker::AnnounceReply> reply =
//       udp.Announce(url, params, absl::Now() + absl::Seconds(20));
//
// Errors: DEADLINE_EXCEEDED when no answer came in time, FAILED_PRECONDITION "tracker error:
// <text>" for an error packet (action 3), CANCELLED, and UNAVAILABLE for the rest (name not
// resolved, port unreachable, malformed answers).
#ifndef SWARM_TRACKER_SVC_UDP_CLIENT_H_
#define SWARM_TRACKER_SVC_UDP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bt/tracker/announce.h"
#include "bt/tracker/tracker_url.h"

namespace swarm::tracker_svc {

class UdpTrackerClient {
 public:
  struct Options {
    // First retransmission timeout; BEP 15 says 15 s, doubled after each retransmission.
    absl::Duration base_timeout = absl::Seconds(15);
    // n stops growing here (BEP 15: 8, i.e. 3840 s).
    int max_backoff_exponent = 8;
    // How long a connection id is reused (BEP 15: a client may use one for 1 minute).
    absl::Duration connection_id_lifetime = absl::Minutes(1);
    // Most trackers whose connection ids are remembered.
    size_t max_cached_connection_ids = 10'000;
    // Clock for connection-id ages (tests advance a fake one); timeouts use the real clock.
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };

  explicit UdpTrackerClient(Options options);

  // `url` must be a udp:// URL. `cancelled`, when set, is polled a few times per second.
  // `tracker_ip`, when set, receives the address the tracker's name resolved to.
  absl::StatusOr<bt::tracker::AnnounceReply> Announce(
      const bt::tracker::TrackerUrl& url, const bt::tracker::AnnounceParams& params,
      absl::Time deadline, const std::function<bool()>& cancelled = nullptr,
      std::string* tracker_ip = nullptr);

  // 1..74 info-hashes; the answer has one entry per hash the tracker answered, in order.
  absl::StatusOr<std::vector<bt::tracker::ScrapeCounts>> Scrape(
      const bt::tracker::TrackerUrl& url, const std::vector<std::string>& info_hashes,
      absl::Time deadline, const std::function<bool()>& cancelled = nullptr);

 private:
  struct CachedId {
    uint64_t id;
    absl::Time obtained;
  };
  class Exchange;

  // A fresh-enough connection id for `endpoint`, if one is cached.
  bool LookUpConnectionId(const std::string& endpoint, uint64_t* id);
  void StoreConnectionId(const std::string& endpoint, uint64_t id);
  void ForgetConnectionId(const std::string& endpoint);

  const Options options_;
  absl::Mutex mu_;
  // Keyed by "ip:port" of the resolved tracker.
  absl::flat_hash_map<std::string, CachedId> connection_ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::tracker_svc

#endif  // SWARM_TRACKER_SVC_UDP_CLIENT_H_
