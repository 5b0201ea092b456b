// The uploading half of one peer connection, without I/O: which of the peer's requests to
// serve, in arrival order, and which to refuse — out of range, larger than 128 KiB, for a
// piece we do not have, made while we choke the peer, or beyond the queue's bound — and when
// a peer that keeps asking for what it may not have is to be dropped. The connection reads
// the blocks and sends them (or BEP 6 rejects); this class only decides.
//
// The queue is bounded (requests, and bytes owed) so that a peer cannot pile up work for us
// without end; it holds requests only: the block data is read when a request reaches the
// front, into the connection's send buffer, a batch at a time.
//
//   UploadQueue q(layout, UploadQueue::Options());
//   q.Unchoke();
//   switch (q.OnRequest({piece, begin, length}, have.Get(piece), now)) {
//     case UploadQueue::Verdict::kQueued: break;
//     case UploadQueue::Verdict::kRefused: if (fast) AppendReject(...); break;
//     case UploadQueue::Verdict::kBan: return Drop(q.ban_reason());
//   }
//   while (std::optional<UploadQueue::Request> r = q.Pop()) Send(*r);
#ifndef SWARM_PEER_SVC_UPLOAD_QUEUE_H_
#define SWARM_PEER_SVC_UPLOAD_QUEUE_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bt/piece_layout.h"

namespace swarm::peer_svc {

class UploadQueue {
 public:
  struct Options {
    // Bound on queued requests, by count and by bytes owed: 2048 blocks of 16 KiB, or 256 of
    // 128 KiB. Only the requests are held (12 bytes each, 24 KiB at most); block data is read
    // when a request reaches the front, a batch at a time. The bound caps what a peer may
    // have in flight, and so its rate (upload_bench, loopback): transmission 3.00 tops up its
    // requests about once a second, so it downloads at about this many bytes per second (4
    // MiB: 4.2 MB/s, 16 MiB: 17 MB/s, 32 MiB: 33 MB/s); our own worker, whose pipeline is at
    // most 512 deep, went from 245 MB/s at 64 / 1 MiB to ~620 MB/s here.
    uint32_t max_requests = 2048;
    uint64_t max_bytes = 32u << 20;
    // Largest block served (BEP 3 practice: 16 KiB asked, up to 128 KiB tolerated).
    uint32_t max_request_length = 128 * 1024;
    // Refused requests a well-behaved peer does not make (a piece we never announced, or
    // while choked long after our choke) tolerated before the peer is dropped.
    uint32_t max_bad_requests = 50;
    // Requests out of the piece's range or over max_request_length (no working client sends
    // one) tolerated before the peer is dropped.
    uint32_t max_invalid_requests = 3;
    // Requests that arrive within this time after we choke the peer were on their way when
    // it got our choke: refused, but not held against it.
    absl::Duration choke_grace = absl::Seconds(10);
  };

  struct Request {
    uint32_t piece = 0;
    uint32_t begin = 0;
    uint32_t length = 0;
    friend bool operator==(const Request& a, const Request& b) {
      return a.piece == b.piece && a.begin == b.begin && a.length == b.length;
    }
  };

  enum class Verdict {
    // Will be served (Pop).
    kQueued,
    // Not served: with the fast extension answer it with a reject, without it ignore it.
    kRefused,
    // Refused, and the peer has persisted past the limits: drop and ban it (ban_reason).
    kBan,
  };

  // The peer starts choked (BEP 3).
  UploadQueue(const bt::PieceLayout& layout, const Options& options);

  // A request from the peer; `have_piece`: whether we have the (in-range) piece verified.
  Verdict OnRequest(const Request& request, bool have_piece, absl::Time now);
  // The peer cancelled a request: removed when still queued (false when not: already sent,
  // or never queued).
  bool Cancel(const Request& request);
  // We choke the peer: queued requests are void (BEP 3). They are appended to *dropped, for
  // the rejects that the fast extension wants.
  void Choke(absl::Time now, std::vector<Request>* dropped);
  void Unchoke() { choking_ = false; }
  bool choking() const { return choking_; }

  // The oldest queued request, removed.
  std::optional<Request> Pop();
  bool empty() const { return queue_.empty(); }
  size_t size() const { return queue_.size(); }
  uint64_t queued_bytes() const { return queued_bytes_; }

  uint32_t bad_requests() const { return bad_; }
  uint32_t invalid_requests() const { return invalid_; }
  // Why the peer is to be dropped, after a kBan.
  const std::string& ban_reason() const { return ban_reason_; }

 private:
  const bt::PieceLayout layout_;
  const Options options_;
  std::deque<Request> queue_;
  uint64_t queued_bytes_ = 0;
  bool choking_ = true;
  absl::Time choked_at_ = absl::InfinitePast();
  uint32_t bad_ = 0;
  uint32_t invalid_ = 0;
  std::string ban_reason_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_UPLOAD_QUEUE_H_
