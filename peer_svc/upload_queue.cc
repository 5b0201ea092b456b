#include "peer_svc/upload_queue.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace swarm::peer_svc {

UploadQueue::UploadQueue(const bt::PieceLayout& layout, const Options& options)
    : layout_(layout), options_(options) {}

UploadQueue::Verdict UploadQueue::OnRequest(const Request& r, bool have_piece, absl::Time now) {
  if (r.length > options_.max_request_length || !layout_.IsValidRange(r.piece, r.begin, r.length)) {
    if (++invalid_ > options_.max_invalid_requests) {
      ban_reason_ = absl::StrCat("made ", invalid_, " requests out of range or over ",
                                 options_.max_request_length, " bytes (the last: piece ", r.piece,
                                 " at ", r.begin, ", ", r.length, " bytes)");
      return Verdict::kBan;
    }
    return Verdict::kRefused;
  }
  const bool in_grace = choking_ && now - choked_at_ < options_.choke_grace;
  if (in_grace) return Verdict::kRefused;
  if (choking_ || !have_piece) {
    if (++bad_ > options_.max_bad_requests) {
      ban_reason_ = absl::StrCat("made ", bad_, " requests while choked or for pieces we do not ",
                                 "have (the last: piece ", r.piece, ")");
      return Verdict::kBan;
    }
    return Verdict::kRefused;
  }
  // Over the bound: a peer asking for more than we queue is not at fault (our BEP 10 reqq is
  // only advisory), it just has to ask again.
  if (queue_.size() >= options_.max_requests || queued_bytes_ + r.length > options_.max_bytes) {
    return Verdict::kRefused;
  }
  queue_.push_back(r);
  queued_bytes_ += r.length;
  return Verdict::kQueued;
}

bool UploadQueue::Cancel(const Request& request) {
  auto it = std::find(queue_.begin(), queue_.end(), request);
  if (it == queue_.end()) return false;
  queued_bytes_ -= it->length;
  queue_.erase(it);
  return true;
}

void UploadQueue::Choke(absl::Time now, std::vector<Request>* dropped) {
  if (!choking_) choked_at_ = now;
  choking_ = true;
  dropped->insert(dropped->end(), queue_.begin(), queue_.end());
  queue_.clear();
  queued_bytes_ = 0;
}

std::optional<UploadQueue::Request> UploadQueue::Pop() {
  if (queue_.empty()) return std::nullopt;
  const Request r = queue_.front();
  queue_.pop_front();
  queued_bytes_ -= r.length;
  return r;
}

}  // namespace swarm::peer_svc
