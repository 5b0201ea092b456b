#include "coordinator/announce_schedule.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace swarm::coordinator {

using pb::AnnounceEvent;

void AnnounceSchedule::SetIdentities(const std::vector<AnnounceIdentity>& identities,
                                     absl::Time now) {
  if (over_) return;
  absl::flat_hash_set<WorkerId> listed;
  for (const AnnounceIdentity& id : identities) {
    listed.insert(id.worker);
    auto it = slots_.find(id.worker);
    if (it == slots_.end()) {
      Slot slot;
      slot.who = id;
      slot.next_at = now;
      slot.retry = options_.retry;
      slots_.emplace(id.worker, std::move(slot));
    } else {
      // Back before its `stopped` went out: it never left. (A `stopped` already in flight
      // removes the slot when it ends; the next call then starts it afresh.)
      it->second.leaving = false;
    }
  }
  for (auto& [worker, slot] : slots_) {
    if (!listed.contains(worker)) slot.leaving = true;
  }
}

void AnnounceSchedule::Complete(absl::Time now) {
  for (auto& [worker, slot] : slots_) {
    if (!slot.started && !slot.in_flight) continue;
    slot.completed_pending = true;
    if (!slot.in_flight) slot.next_at = now;
  }
}

bool AnnounceSchedule::WantPeers(absl::Time now) {
  bool moved = false;
  for (auto& [worker, slot] : slots_) {
    if (!slot.started || slot.leaving || slot.in_flight) continue;
    if (slot.early_wait == absl::InfiniteDuration()) continue;  // the last one failed
    const absl::Time early = std::max(now, slot.answered_sent + slot.early_wait);
    if (early < slot.next_at) {
      slot.next_at = early;
      moved = true;
    }
  }
  return moved;
}

void AnnounceSchedule::LeaveAll() {
  over_ = true;
  for (auto& [worker, slot] : slots_) slot.leaving = true;
}

std::vector<DueAnnounce> AnnounceSchedule::TakeDue(absl::Time now) {
  std::vector<DueAnnounce> due;
  for (auto it = slots_.begin(); it != slots_.end();) {
    Slot& slot = it->second;
    if (slot.in_flight) {
      ++it;
      continue;
    }
    DueAnnounce d;
    if (slot.leaving) {
      if (!slot.started) {  // the tracker never heard of it: nothing to take back
        it = slots_.erase(it);
        continue;
      }
      d.event = slot.completed_pending ? pb::COMPLETED : pb::STOPPED;
      d.final = true;
    } else if (now >= slot.next_at) {
      d.event = !slot.started            ? pb::STARTED
                : slot.completed_pending ? pb::COMPLETED
                                         : pb::NONE;
    } else {
      ++it;
      continue;
    }
    d.who = slot.who;
    d.tracker_ids = slot.tracker_ids;
    slot.in_flight = true;
    due.push_back(std::move(d));
    ++it;
  }
  return due;
}

absl::Duration AnnounceSchedule::Interval(const TrackerAnswer& answer) const {
  absl::Duration interval =
      answer.interval_s > 0 ? absl::Seconds(answer.interval_s) : options_.default_interval;
  const absl::Duration wait =
      std::min(std::max({interval, options_.min_interval, absl::Seconds(answer.min_interval_s)}),
               options_.longest_interval);
  // The job's cap is the user's explicit choice and overrides both the tracker's interval and
  // its min interval, as aria2's --bt-tracker-interval does: a seeder on a test or demo swarm
  // must learn of new leechers within seconds, and opentracker asks for a 16-minute minimum.
  if (options_.max_interval > absl::ZeroDuration()) return std::min(wait, options_.max_interval);
  return wait;
}

absl::Duration AnnounceSchedule::EarlyWait(const TrackerAnswer& answer) const {
  const absl::Duration wait =
      std::min(std::max(options_.min_early_interval, absl::Seconds(answer.min_interval_s)),
               options_.longest_interval);
  if (options_.max_interval > absl::ZeroDuration()) return std::min(wait, options_.max_interval);
  return wait;
}

absl::Duration AnnounceSchedule::Succeeded(WorkerId who, AnnounceEvent event,
                                           const TrackerAnswer& answer, absl::Time sent) {
  auto it = slots_.find(who);
  if (it == slots_.end()) return absl::ZeroDuration();
  Slot& slot = it->second;
  slot.in_flight = false;
  if (event == pb::STOPPED) {
    slots_.erase(it);
    return absl::ZeroDuration();
  }
  if (event == pb::STARTED) slot.started = true;
  if (event == pb::COMPLETED) slot.completed_pending = false;
  if (!answer.tracker_id.empty() && (slot.tracker_ids.size() < kMaxTrackerIds ||
                                     slot.tracker_ids.count(answer.tracker_url) > 0)) {
    slot.tracker_ids[answer.tracker_url] = answer.tracker_id;
  }
  slot.retry = options_.retry;
  slot.answered_sent = sent;
  slot.early_wait = EarlyWait(answer);
  // `completed` pending (the job completed while this announce was in flight): at once.
  const absl::Duration interval = slot.completed_pending ? absl::ZeroDuration() : Interval(answer);
  slot.next_at = sent + interval;
  return slot.leaving ? absl::ZeroDuration() : interval;  // leaving: the final events are next
}

absl::Duration AnnounceSchedule::Failed(WorkerId who, AnnounceEvent event, absl::Time now) {
  auto it = slots_.find(who);
  if (it == slots_.end()) return absl::ZeroDuration();
  Slot& slot = it->second;
  slot.in_flight = false;
  if (event == pb::STOPPED) {  // final either way: the tracker forgets it in time
    slots_.erase(it);
    return absl::ZeroDuration();
  }
  if (slot.leaving) {
    // No retries on the way out; a `completed` that failed is given up, `stopped` is next.
    if (event == pb::COMPLETED) slot.completed_pending = false;
    return absl::ZeroDuration();
  }
  // A `started` that failed is retried, and by then says left = 0 if the job completed.
  if (event == pb::STARTED) slot.completed_pending = false;
  slot.early_wait = absl::InfiniteDuration();  // the retries keep their own pace
  absl::Duration delay = slot.retry;
  if (options_.max_interval > absl::ZeroDuration()) {
    delay = std::min(delay, options_.max_interval);
  }
  slot.next_at = now + delay;
  slot.retry = std::min(slot.retry * 2, options_.max_retry);
  return delay;
}

absl::Time AnnounceSchedule::next_announce(WorkerId who) const {
  auto it = slots_.find(who);
  return it == slots_.end() ? absl::InfiniteFuture() : it->second.next_at;
}

}  // namespace swarm::coordinator
