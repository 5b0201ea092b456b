// Announces to and scrapes a torrent's trackers: picks the transport by URL scheme (HTTP(S)
// through HttpClient, UDP through UdpTrackerClient), walks the tiers in BEP 12 order (TierOrder),
// gives each tracker a share of the call's time budget, and returns the first answer. Knows no
// gRPC: TrackerServer adapts it. Thread-safe; calls run concurrently, each with its deadline.
//
//   tracker_svc::Announcer announcer(tracker_svc::Announcer::Options{});
//   absl::StatusOr<tracker_svc::Announcer::AnnounceResult> r = announcer.Announce(
//       params, {{"udp://a.example:6969"}, {"http://b.example/announce"}}, {},
//       absl::Now() + absl::Seconds(30));
//
// When every tracker fails the error lists each tracker's own error. Its code is the one they
// all share, else FAILED_PRECONDITION if any tracker refused (failure reason / error packet),
// else DEADLINE_EXCEEDED if the time ran out, else UNAVAILABLE.
#ifndef SWARM_TRACKER_SVC_ANNOUNCER_H_
#define SWARM_TRACKER_SVC_ANNOUNCER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bt/tracker/announce.h"
#include "bt/tracker/http_response.h"
#include "tracker_svc/http_client.h"
#include "tracker_svc/tier_order.h"
#include "tracker_svc/udp_client.h"

namespace swarm::tracker_svc {

class Announcer {
 public:
  using Tiers = TierOrder::Tiers;

  struct Options {
    HttpClient::Options http;
    UdpTrackerClient::Options udp;
    bt::tracker::HttpResponseLimits limits;
    TierOrder::Options tier_order;
    // Each tracker gets an equal share of the time left among the trackers not yet tried, but
    // at least this much (or all that is left).
    absl::Duration min_attempt_time = absl::Seconds(5);
  };

  struct AnnounceResult {
    // warnings start with "<url>: <error>" for each tracker that failed before this one.
    bt::tracker::AnnounceReply reply;
    std::string tracker_url;
    // The address the answer came from (empty when unknown): the coordinator takes loopback
    // and private peer addresses only from a tracker that is there itself (bt/dialable.h).
    std::string tracker_ip;
  };
  struct ScrapeResult {
    std::vector<bt::tracker::ScrapeCounts> counts;
    std::string tracker_url;
  };

  explicit Announcer(Options options);

  // `tracker_ids` maps a tracker URL to the tracker id it gave earlier (sent back to it only).
  absl::StatusOr<AnnounceResult> Announce(
      const bt::tracker::AnnounceParams& params, const Tiers& tiers,
      const absl::flat_hash_map<std::string, std::string>& tracker_ids, absl::Time deadline,
      const std::function<bool()>& cancelled = nullptr);

  // Trackers are tried in the given order (no shuffling: BEP 12 is about announces);
  // http(s) trackers without a scrape URL by the BEP 48 convention are skipped.
  absl::StatusOr<ScrapeResult> Scrape(const std::vector<std::string>& info_hashes,
                                      const Tiers& tiers, absl::Time deadline,
                                      const std::function<bool()>& cancelled = nullptr);

  // One tracker, no tiers.
  // The result without tracker_url (the caller knows it).
  absl::StatusOr<AnnounceResult> AnnounceOne(const std::string& url,
                                             const bt::tracker::AnnounceParams& params,
                                             absl::Time deadline,
                                             const std::function<bool()>& cancelled = nullptr);
  absl::StatusOr<std::vector<bt::tracker::ScrapeCounts>> ScrapeOne(
      const std::string& url, const std::vector<std::string>& info_hashes, absl::Time deadline,
      const std::function<bool()>& cancelled = nullptr);

 private:
  const Options options_;
  HttpClient http_;
  UdpTrackerClient udp_;
  TierOrder tier_order_;
};

}  // namespace swarm::tracker_svc

#endif  // SWARM_TRACKER_SVC_ANNOUNCER_H_
