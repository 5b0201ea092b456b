#include "tracker_svc/announcer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "bt/tracker/http_url.h"
#include "bt/tracker/tracker_url.h"

namespace swarm::tracker_svc {
namespace {

using bt::tracker::AnnounceParams;
using bt::tracker::AnnounceReply;
using bt::tracker::ScrapeCounts;
using bt::tracker::TrackerScheme;
using bt::tracker::TrackerUrl;

// A parse error of a tracker's answer is the tracker's fault, not the caller's.
absl::Status TrackerFault(const absl::Status& s) {
  if (absl::IsInvalidArgument(s)) return absl::UnavailableError(s.message());
  return s;
}

// Turns a non-200 HTTP answer into an error; keeps a bencoded failure reason if there is one.
absl::Status HttpStatusError(const HttpResult& r, const bt::tracker::HttpResponseLimits& limits) {
  absl::Status parsed = bt::tracker::ParseAnnounceResponse(r.body, limits).status();
  if (absl::IsFailedPrecondition(parsed)) return parsed;
  return absl::UnavailableError(absl::StrCat("HTTP status ", r.status_code, " from tracker"));
}

// Runs `attempt(url, attempt_deadline)` over the trackers in order until one succeeds.
template <typename T>
struct Walk {
  absl::StatusOr<T> result = absl::UnknownError("no tracker");
  std::string url;                    // of the tracker that answered
  std::vector<std::string> failures;  // "<url>: <error>" of those that did not
};

template <typename T>
Walk<T> TryInOrder(
    const std::vector<std::string>& urls, absl::Time deadline, absl::Duration min_attempt,
    const std::function<bool()>& cancelled,
    const std::function<absl::StatusOr<T>(const std::string&, absl::Time)>& attempt) {
  Walk<T> walk;
  std::vector<absl::Status> errors;
  size_t untried = urls.size();
  bool out_of_time = false;
  for (const std::string& url : urls) {
    const absl::Time now = absl::Now();
    const absl::Duration left = deadline - now;
    if (left <= absl::ZeroDuration() || (cancelled && cancelled())) {
      out_of_time = true;
      break;
    }
    const absl::Duration share =
        std::max(left / static_cast<int64_t>(untried), std::min(left, min_attempt));
    --untried;
    absl::StatusOr<T> r = attempt(url, std::min(deadline, now + share));
    if (r.ok()) {
      walk.result = std::move(r);
      walk.url = url;
      return walk;
    }
    errors.push_back(r.status());
    walk.failures.push_back(
        absl::StrCat(bt::tracker::SanitizeTrackerText(url, 300), ": ", r.status().message()));
  }

  std::string message = absl::StrJoin(walk.failures, "; ");
  if (walk.failures.size() > 1) {
    message = absl::StrCat("all ", walk.failures.size(), " trackers tried failed: ", message);
  }
  if (out_of_time && untried > 0) {
    absl::StrAppend(&message, walk.failures.empty() ? "" : "; ", untried, " tracker(s) not tried: ",
                    cancelled && cancelled() ? "call cancelled" : "out of time");
  }
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  const bool cancelled_now = cancelled && cancelled();
  const bool all_same = !errors.empty() && !(out_of_time && untried > 0) &&
                        std::all_of(errors.begin(), errors.end(), [&](const absl::Status& s) {
                          return s.code() == errors[0].code();
                        });
  if (all_same) {
    code = errors[0].code();
  } else if (std::any_of(errors.begin(), errors.end(),
                         [](const absl::Status& s) { return absl::IsFailedPrecondition(s); })) {
    code = absl::StatusCode::kFailedPrecondition;
  } else if (cancelled_now) {
    code = absl::StatusCode::kCancelled;
  } else if (absl::Now() >= deadline) {
    code = absl::StatusCode::kDeadlineExceeded;
  }
  walk.result = absl::Status(code, message);
  return walk;
}

}  // namespace

Announcer::Announcer(Options options)
    : options_(std::move(options)),
      http_(options_.http),
      udp_(options_.udp),
      tier_order_(options_.tier_order) {}

absl::StatusOr<Announcer::AnnounceResult> Announcer::AnnounceOne(
    const std::string& url, const AnnounceParams& params, absl::Time deadline,
    const std::function<bool()>& cancelled) {
  SWARM_ASSIGN_OR_RETURN(TrackerUrl parsed, bt::tracker::ParseTrackerUrl(url));
  AnnounceResult result;
  if (parsed.scheme == TrackerScheme::kUdp) {
    SWARM_ASSIGN_OR_RETURN(result.reply,
                           udp_.Announce(parsed, params, deadline, cancelled, &result.tracker_ip));
    return result;
  }
  SWARM_ASSIGN_OR_RETURN(std::string get_url, bt::tracker::BuildAnnounceUrl(url, params));
  SWARM_ASSIGN_OR_RETURN(HttpResult r, http_.Get(get_url, deadline, cancelled));
  if (r.status_code != 200) return HttpStatusError(r, options_.limits);
  absl::StatusOr<AnnounceReply> reply = bt::tracker::ParseAnnounceResponse(r.body, options_.limits);
  if (!reply.ok()) return TrackerFault(reply.status());
  result.reply = *std::move(reply);
  result.tracker_ip = std::move(r.primary_ip);
  return result;
}

absl::StatusOr<std::vector<ScrapeCounts>> Announcer::ScrapeOne(
    const std::string& url, const std::vector<std::string>& info_hashes, absl::Time deadline,
    const std::function<bool()>& cancelled) {
  SWARM_ASSIGN_OR_RETURN(TrackerUrl parsed, bt::tracker::ParseTrackerUrl(url));
  if (parsed.scheme == TrackerScheme::kUdp) {
    return udp_.Scrape(parsed, info_hashes, deadline, cancelled);
  }
  SWARM_ASSIGN_OR_RETURN(std::string get_url, bt::tracker::BuildScrapeUrl(url, info_hashes));
  SWARM_ASSIGN_OR_RETURN(HttpResult r, http_.Get(get_url, deadline, cancelled));
  if (r.status_code != 200) return HttpStatusError(r, options_.limits);
  absl::StatusOr<std::vector<ScrapeCounts>> counts =
      bt::tracker::ParseScrapeResponse(r.body, options_.limits);
  return counts.ok() ? counts : TrackerFault(counts.status());
}

absl::StatusOr<Announcer::AnnounceResult> Announcer::Announce(
    const AnnounceParams& params, const Tiers& tiers,
    const absl::flat_hash_map<std::string, std::string>& tracker_ids, absl::Time deadline,
    const std::function<bool()>& cancelled) {
  SWARM_RETURN_IF_ERROR(bt::tracker::ValidateAnnounceParams(params));
  const Tiers ordered = tier_order_.Order(params.info_hash, tiers);
  std::vector<std::string> urls;
  for (const auto& tier : ordered) urls.insert(urls.end(), tier.begin(), tier.end());
  if (urls.empty()) return absl::InvalidArgumentError("no tracker URLs to announce to");

  Walk<AnnounceResult> walk =
      TryInOrder<AnnounceResult>(urls, deadline, options_.min_attempt_time, cancelled,
                                 [&](const std::string& url, absl::Time attempt_deadline) {
                                   AnnounceParams p = params;
                                   auto id = tracker_ids.find(url);
                                   p.tracker_id = id == tracker_ids.end() ? "" : id->second;
                                   return AnnounceOne(url, p, attempt_deadline, cancelled);
                                 });
  if (!walk.result.ok()) return walk.result.status();
  tier_order_.MoveToFront(params.info_hash, walk.url);
  AnnounceResult out = *std::move(walk.result);
  out.tracker_url = walk.url;
  out.reply.warnings.insert(out.reply.warnings.begin(), walk.failures.begin(), walk.failures.end());
  return out;
}

absl::StatusOr<Announcer::ScrapeResult> Announcer::Scrape(
    const std::vector<std::string>& info_hashes, const Tiers& tiers, absl::Time deadline,
    const std::function<bool()>& cancelled) {
  std::vector<std::string> urls;
  for (const auto& tier : tiers) {
    for (const std::string& url : tier) {
      if (std::find(urls.begin(), urls.end(), url) == urls.end()) urls.push_back(url);
    }
  }
  if (urls.empty()) return absl::InvalidArgumentError("no tracker URLs to scrape");
  Walk<std::vector<ScrapeCounts>> walk = TryInOrder<std::vector<ScrapeCounts>>(
      urls, deadline, options_.min_attempt_time, cancelled,
      [&](const std::string& url, absl::Time attempt_deadline) {
        return ScrapeOne(url, info_hashes, attempt_deadline, cancelled);
      });
  if (!walk.result.ok()) return walk.result.status();
  return ScrapeResult{*std::move(walk.result), walk.url};
}

}  // namespace swarm::tracker_svc
