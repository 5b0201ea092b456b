// The job's announces: who is announced (each listening worker as a peer of its own, or the
// coordinator while none listens), what each request says, and the rounds the job's thread
// runs. AnnounceSchedule decides when and with which event; this file performs the RPCs,
// several at once, with no lock held, and applies the answers.
#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bt/dialable.h"
#include "coordinator/job.h"
#include "rpc/auth_token.h"

namespace swarm::coordinator {
namespace {

using pb::AnnounceEvent;

const char* EventName(AnnounceEvent e) {
  switch (e) {
    case pb::STARTED:
      return "started";
    case pb::COMPLETED:
      return "completed";
    case pb::STOPPED:
      return "stopped";
    default:
      return "regular";
  }
}

std::string WhoName(const AnnounceIdentity& who) {
  if (who.worker == kCoordinatorIdentity) return "coordinator";
  return absl::StrCat("worker ", who.worker, " (port ", who.port,
                      who.ip.empty() ? "" : absl::StrCat(", ip ", who.ip), ")");
}

}  // namespace

bool Job::AnnouncesActive() const {
  return options_.tracker != nullptr && !metainfo_.trackers.empty() && Serving();
}

std::vector<AnnounceIdentity> Job::IdentitiesLocked() const {
  std::vector<AnnounceIdentity> ids = Own()->announced;
  // A worker that cannot take part has nothing to give the swarm.
  ids.erase(std::remove_if(ids.begin(), ids.end(),
                           [this](const AnnounceIdentity& who) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                             return refused_.contains(who.worker);
                           }),
            ids.end());
  if (ids.empty()) {
    // Nobody can be reached: the coordinator still announces (port 0), to get peers.
    AnnounceIdentity self;
    self.worker = kCoordinatorIdentity;
    self.peer_id = options_.peer_id;
    self.key = options_.announce_key;
    ids.push_back(std::move(self));
  }
  return ids;
}

void Job::LeaveSwarmLocked() {
  schedule_.LeaveAll();
  // Cut regular announces short; "stopped" and a last "completed" run out their short budget.
  for (const auto& [ctx, final] : announces_in_flight_) {
    if (!final) ctx->TryCancel();
  }
}

pb::AnnounceRequest Job::RequestFor(const DueAnnounce& due) const {
  pb::AnnounceRequest request;
  request.set_info_hash(std::string(bt::AsBytes(metainfo_.info_hash)));
  request.set_peer_id(due.who.peer_id);
  request.set_port(due.who.port);
  request.set_ip(due.who.ip);
  request.set_key(due.who.key);
  request.set_event(due.event);
  request.set_numwant(due.event == pb::STOPPED ? 0 : options_.numwant);
  if (due.who.worker == kCoordinatorIdentity) {
    request.set_uploaded(UploadedLocked());
    request.set_downloaded(ledger_.verified_bytes());
  } else if (auto t = transfers_.find(due.who.worker); t != transfers_.end()) {
    request.set_uploaded(t->second.uploaded);
    request.set_downloaded(t->second.downloaded);
  }
  request.set_left(ledger_.missing_bytes());
  for (const std::vector<std::string>& tier : metainfo_.trackers) {
    pb::TrackerTier* t = request.add_tiers();
    for (const std::string& url : tier) t->add_urls(url);
  }
  for (const auto& [url, id] : due.tracker_ids) (*request.mutable_tracker_ids())[url] = id;
  return request;
}

size_t Job::AddTrackerPeers(const pb::AnnounceResponse& response) {
  const std::shared_ptr<const OwnPeers::Snapshot> own = Own();
  // A tracker whose address is unknown counts as one on the public internet.
  const bt::IpAddress tracker =
      bt::IpAddress::Parse(response.tracker_ip()).value_or(*bt::IpAddress::Parse("192.0.2.1"));
  std::vector<bt::Endpoint> peers;
  size_t refused = 0;
  for (const pb::Peer& p : response.peers()) {
    if (!p.peer_id().empty() && own->peer_ids.contains(p.peer_id())) continue;
    absl::StatusOr<bt::Endpoint> addr = bt::Endpoint::Make(p.ip(), p.port());
    if (!addr.ok() || !bt::IsDialablePeer(addr->ip(), tracker)) {
      ++refused;
      continue;
    }
    if (own->keys.contains(addr->ToString())) continue;
    peers.push_back(*std::move(addr));
  }
  if (refused > 0) {
    Log(absl::StrCat(response.tracker_url(), " at ",
                     response.tracker_ip().empty() ? "an unknown address" : response.tracker_ip(),
                     " gave ", refused,
                     " peer addresses that cannot be dialled or are not its to give (unspecified, "
                     "multicast, reserved, or loopback/private from outside): ignored"));
  }
  // Banned peers stay banned: Add leaves every peer it knows as it is.
  return pool_.Add(peers);
}

bool Job::OutOfPeersLocked(absl::Time now) const {
  // Held: given to a worker by the pool, or reported by one (peers that connected to it).
  if (pool_.assigned() > 0) return false;
  for (const auto& [id, w] : workers_) {
    if (!w.peers.empty()) return false;
  }
  // Free: what Take would give out (never our own workers' addresses).
  return pool_.available(now, Own()->keys) == 0;
}

void Job::RunDueAnnounces() {
  struct Call {
    DueAnnounce due;
    pb::AnnounceRequest request;
    pb::AnnounceResponse response;
    grpc::ClientContext ctx;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  absl::Time sent;
  {
    absl::MutexLock lock(&mu_);
    if (options_.tracker == nullptr) return;
    sent = clock_->Now();
    for (DueAnnounce& due : schedule_.TakeDue(sent)) {
      auto call = std::make_unique<Call>();
      const absl::Duration budget =
          due.final ? options_.stopped_announce_timeout : options_.announce_timeout;
      call->due = std::move(due);
      call->request = RequestFor(call->due);
      call->request.set_timeout_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(budget)));
      // A little past the service's own budget, so that its answer (with its error text) wins.
      call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + budget + absl::Seconds(1)));
      rpc::AttachAuthToken(options_.tracker_token, &call->ctx);
      announces_in_flight_[&call->ctx] = call->due.final;
      calls.push_back(std::move(call));
    }
  }
  if (calls.empty()) return;

  // One thread per announce beyond the first: a round is one announce per identity (a
  // handful of workers), and a slow tracker must not make the later ones wait in line.
  auto run = [this](Call* c) {
    // A worker with a tracker_svc of its own is announced from its host, at its address.
    pb::TrackerQuery::StubInterface* tracker =
        c->due.who.via != nullptr ? c->due.who.via : options_.tracker;
    c->status = tracker->Announce(&c->ctx, c->request, &c->response);
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < calls.size(); ++i) threads.emplace_back(run, calls[i].get());
  run(calls[0].get());
  for (std::thread& t : threads) t.join();

  Outbox out;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (const std::unique_ptr<Call>& c : calls) {
      announces_in_flight_.erase(&c->ctx);
      const AnnounceEvent event = c->due.event;
      const WorkerId who = c->due.who.worker;
      if (c->status.ok()) {
        const size_t added = IsTerminal(state_) ? 0 : AddTrackerPeers(c->response);
        TrackerAnswer answer;
        answer.interval_s = c->response.interval_s();
        answer.min_interval_s = c->response.min_interval_s();
        answer.tracker_url = c->response.tracker_url();
        answer.tracker_id = c->response.tracker_id();
        const absl::Duration next = schedule_.Succeeded(who, event, answer, sent);
        tracker_error_ = c->response.warnings().empty()
                             ? std::string()
                             : Truncate(absl::StrCat("tracker warning: ", c->response.warnings(0)));
        // Regular announces may come every second or two (max_announce_interval_s): only
        // the events are worth a line.
        if (event != pb::NONE) {
          Log(absl::StrCat(
              "announced ", WhoName(c->due.who), " (", EventName(event), ") to ",
              c->response.tracker_url(), ": ", c->response.peers_size(), " peers, ", added, " new",
              next > absl::ZeroDuration() ? absl::StrCat("; next in ", absl::FormatDuration(next))
                                          : ""));
        }
      } else {
        const std::string error = Truncate(c->status.error_message());
        if (!IsTerminal(state_)) tracker_error_ = absl::StrCat("announce failed: ", error);
        const absl::Duration retry = schedule_.Failed(who, event, now);
        Log(absl::StrCat(
            "announce of ", WhoName(c->due.who), " (", EventName(event), ") failed: ", error,
            retry > absl::ZeroDuration() ? absl::StrCat("; retry in ", absl::FormatDuration(retry))
                                         : ""));
      }
    }
    if (Serving()) ServeAll(now, &out);
  }
  if (options_.deliver && !out.empty()) options_.deliver(std::move(out));
}

}  // namespace swarm::coordinator
