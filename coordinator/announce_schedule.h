// When each peer that the coordinator announces for one job announces next, and with which
// event. Those peers ("identities") are the job's listening workers, each a peer of the swarm
// with its own peer id, port and address, or, while no worker listens, the coordinator itself
// with port 0. coordinator/STATE.md has the per-identity states this class implements.
//
// Pure like PieceLedger: "now" is an argument; no threads, I/O or RPCs. The Job takes what is
// due, performs the announces without its lock and reports each outcome back. Not thread-safe.
//
//   AnnounceSchedule schedule(options);
//   schedule.SetIdentities({{7, worker_peer_id, 51413, "10.0.0.5"}}, now);   // each poll
//   for (const DueAnnounce& d : schedule.TakeDue(now)) {
//     ... an AnnounceRequest with d.who and d.event ...
//     if (ok) schedule.Succeeded(d.who.worker, d.event, answer, now);
//     else schedule.Failed(d.who.worker, d.event, now);
//   }
//   schedule.WantPeers(now);  // out of peers: announce early, as the tracker allows
//   schedule.Complete(now);   // every piece verified: `completed` from whoever has started
//   schedule.LeaveAll();      // the job is over: `stopped` from whoever has started
#ifndef SWARM_COORDINATOR_ANNOUNCE_SCHEDULE_H_
#define SWARM_COORDINATOR_ANNOUNCE_SCHEDULE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "coordinator/worker_id.h"
#include "proto/tracker.grpc.pb.h"
#include "proto/tracker.pb.h"

namespace swarm::coordinator {

// The identity of the coordinator's own announce (no worker listens).
inline constexpr WorkerId kCoordinatorIdentity = 0;

// A peer the coordinator announces: what goes into AnnounceRequest besides the job's data.
struct AnnounceIdentity {
  // The worker, or kCoordinatorIdentity.
  WorkerId worker = kCoordinatorIdentity;
  // 20 bytes.
  std::string peer_id;
  uint32_t port = 0;
  // AnnounceRequest.ip; empty: the tracker takes the address the announce comes from.
  std::string ip;
  // AnnounceRequest.key; 0 lets tracker_svc derive a stable one.
  uint32_t key = 0;
  // The tracker_svc on the worker's own host to announce through (Register.tracker_svc), or
  // null: the coordinator's. Owned by the server, which outlives its jobs.
  pb::TrackerQuery::StubInterface* via = nullptr;

  bool operator==(const AnnounceIdentity& o) const {
    return worker == o.worker && peer_id == o.peer_id && port == o.port && ip == o.ip &&
           key == o.key && via == o.via;
  }
};

// An announce to perform now.
struct DueAnnounce {
  AnnounceIdentity who;
  pb::AnnounceEvent event = pb::NONE;
  // The identity is leaving the swarm (worker gone, job over): tried once, with the short
  // budget, never retried.
  bool final = false;
  // Tracker ids this identity got from earlier answers (tracker URL -> id).
  std::map<std::string, std::string> tracker_ids;
};

// What the schedule needs from a successful answer.
struct TrackerAnswer {
  uint32_t interval_s = 0;
  uint32_t min_interval_s = 0;
  std::string tracker_url;
  std::string tracker_id;
};

class AnnounceSchedule {
 public:
  struct Options {
    // First retry after a failed announce; doubles up to max_retry.
    absl::Duration retry = absl::Seconds(5);
    absl::Duration max_retry = absl::Minutes(5);
    // Wait between regular announces when the tracker gives no interval.
    absl::Duration default_interval = absl::Minutes(30);
    // Shortest wait between regular announces, whatever the tracker says.
    absl::Duration min_interval = absl::Seconds(10);
    // Longest wait between regular announces, whatever the tracker says (its interval and its
    // min interval both): a tracker answering 2^32-1 s must not silence the job for good.
    absl::Duration longest_interval = absl::Hours(2);
    // Longest wait between two announces (retries included), whatever the tracker says; zero:
    // no cap (SubmitJobRequest.max_announce_interval_s). A cap below min_interval lowers that
    // floor to the cap; it overrides the tracker's min interval too.
    absl::Duration max_interval = absl::ZeroDuration();
    // Shortest wait between an announce and one brought forward by WantPeers, unless the
    // tracker's min interval is longer: an early announce must not hammer the tracker. The
    // cap (max_interval) lowers it too.
    absl::Duration min_early_interval = absl::Minutes(5);
  };

  AnnounceSchedule() : AnnounceSchedule(Options()) {}
  explicit AnnounceSchedule(Options options) : options_(options) {}

  // The identities that should be peers of the swarm now. A new one announces `started` at
  // once; one no longer listed leaves (`stopped` if it has started, else it is just dropped);
  // one listed again before its `stopped` went out simply stays. No effect after LeaveAll.
  void SetIdentities(const std::vector<AnnounceIdentity>& identities, absl::Time now);
  // Every piece is verified: each identity that has started (or whose `started` is in
  // flight) announces `completed` next, at once. The others start later with left = 0, which
  // needs no `completed`.
  void Complete(absl::Time now);
  // The job is out of peers to try: each identity whose last announce was answered (and which
  // is not leaving or waiting for an answer) announces again as soon as min_early_interval
  // and the tracker's min interval since that announce allow, instead of at the tracker's
  // interval (30 min, often). Returns whether any announce moved earlier; calling it again
  // while nothing has changed moves none.
  bool WantPeers(absl::Time now);
  // The job is over: every identity leaves, after its pending `completed` if there is one.
  void LeaveAll();

  // The announces due at `now`: at most one per identity and none for an identity with one in
  // flight. Leaving identities are due at once. Each stays in flight until Succeeded/Failed.
  std::vector<DueAnnounce> TakeDue(absl::Time now);
  // Outcomes of announces from TakeDue. Return the wait until that identity's next announce
  // (zero when it has left or goes on at once), for logs. After a success the interval runs
  // from `sent`, the `now` the announce was taken at: it is the time between two announces,
  // however long the answer took. After a failure the retry delay runs from `now`.
  absl::Duration Succeeded(WorkerId who, pb::AnnounceEvent event,
                           const TrackerAnswer& answer, absl::Time sent);
  absl::Duration Failed(WorkerId who, pb::AnnounceEvent event, absl::Time now);

  // Nobody is announced or still has to say `stopped`: after LeaveAll, the job may end.
  bool empty() const { return slots_.empty(); }
  // `who` is announced, or still has to leave.
  bool Has(WorkerId who) const { return slots_.count(who) > 0; }
  // When `who` announces next (InfiniteFuture when unknown); for tests.
  absl::Time next_announce(WorkerId who) const;

 private:
  // Most tracker ids remembered per identity (one per tracker that gave one).
  static constexpr size_t kMaxTrackerIds = 64;

  struct Slot {
    AnnounceIdentity who;
    // A `started` was answered: the tracker knows this peer.
    bool started = false;
    // `completed` is still to be said.
    bool completed_pending = false;
    bool leaving = false;
    bool in_flight = false;
    absl::Time next_at = absl::InfinitePast();
    absl::Duration retry;
    // The last answered announce: when it was sent, and the least wait after it before an
    // early one (min_early_interval or the tracker's min interval). Unset until one is
    // answered, and while the last one failed (its retries keep their backoff).
    absl::Time answered_sent = absl::InfinitePast();
    absl::Duration early_wait = absl::InfiniteDuration();
    std::map<std::string, std::string> tracker_ids;
  };

  absl::Duration Interval(const TrackerAnswer& answer) const;
  absl::Duration EarlyWait(const TrackerAnswer& answer) const;

  const Options options_;
  std::map<WorkerId, Slot> slots_;
  bool over_ = false;
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_ANNOUNCE_SCHEDULE_H_
