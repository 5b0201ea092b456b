// The request pipeline of one peer connection: which pieces it is assembling, which 16 KiB
// blocks of them are requested, and how many requests to keep in flight. Pure: no sockets, no
// clock (callers pass the time), no locks; the connection drives it from its own thread.
//
// A piece is assembled by one pipeline at a time (the worker's PiecePool decides who gets
// which), straight into a buffer the pipeline owns and reuses: blocks are copied from the wire
// parser's buffer into place, with no allocation per block. The queue depth adapts to the
// peer's rate: about `horizon` worth of blocks in flight, clamped to [min_depth, max_depth]
// and to the peer's own limit (BEP 10 "reqq") when it told us one. Until the first rate
// measurement it grows by one per block received (doubling every round trip, like TCP's slow
// start), so a fast peer is not held at min_depth for a whole window.
//
//   BlockPipeline pipe(layout, BlockPipeline::Options(), absl::Now());
//   while (pipe.WantsPiece()) pipe.AddPiece(*PickSomething());
//   pipe.AppendRequests(&out);                        // request messages, sent by the caller
//   ...
//   switch (pipe.OnBlock(m.index, m.begin, m.data, absl::Now())) {
//     case BlockPipeline::BlockResult::kPieceComplete:
//       Verify(m.index, pipe.PieceData(m.index));
//       pipe.FinishPiece(m.index);
//       break;
//     ...
//   }
#ifndef SWARM_PEER_SVC_BLOCK_PIPELINE_H_
#define SWARM_PEER_SVC_BLOCK_PIPELINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "bt/piece_layout.h"
#include "peer_svc/piece_buffer.h"

namespace swarm::peer_svc {

class BlockPipeline {
 public:
  struct Options {
    // Requests kept in flight while the rate is unknown or low. BEP 3 practice is 5-10; far
    // more are needed to fill a fast link, so the floor is already generous.
    uint32_t min_depth = 16;
    // Cap on requests in flight (512 x 16 KiB = 8 MiB per peer at most).
    uint32_t max_depth = 512;
    // Target: enough requests to cover this much time at the peer's measured rate, so the
    // peer never waits on us for a round trip.
    absl::Duration horizon = absl::Seconds(2);
    // How often the rate estimate is refreshed.
    absl::Duration rate_window = absl::Milliseconds(200);
    // Rejects of one piece's blocks (while unchoked) after which the pipeline gives the piece
    // up: the peer will not serve it.
    uint32_t max_rejects_per_piece = 2;
  };

  enum class BlockResult {
    // Stored; the piece still has blocks missing.
    kStored,
    // Stored, and it was the piece's last missing block: PieceData is ready for checking.
    kPieceComplete,
    // A block of a piece we are not assembling (cancelled, given up) or one we already have:
    // harmless, ignored.
    kIgnored,
    // The range is not one of the piece's blocks although we only request whole blocks: the
    // peer is broken or hostile.
    kInvalid,
  };

  enum class RejectResult {
    // The block will be requested again.
    kRetry,
    // The peer refused this piece repeatedly: the pipeline dropped it; the caller should
    // give it back so another peer fetches it.
    kGiveUp,
    // Not a block we are waiting for.
    kIgnored,
  };

  // Piece buffers come from `pool` (shared with whoever takes finished pieces, see TakePiece)
  // or, when it is null, from a pool of the pipeline's own. `pool` must outlive it.
  BlockPipeline(const bt::PieceLayout& layout, const Options& options, absl::Time now,
                BufferPool* pool = nullptr);
  ~BlockPipeline();
  BlockPipeline(const BlockPipeline&) = delete;
  BlockPipeline& operator=(const BlockPipeline&) = delete;

  // --- pieces ---

  // True while the requests in flight plus the blocks left to request of the pieces being
  // assembled do not fill the target depth: the caller should add another piece (if it can
  // find one).
  bool WantsPiece() const;
  // Makes sure a buffer waits for the next AddPiece; false when the worker's piece memory is
  // spent (pick no piece now, ask again later).
  bool ReserveBuffer();
  // Gives buffers kept for later pieces back to the pool: this connection has nothing to
  // fetch now, and others may.
  void ReturnSpareBuffers();
  // Starts assembling `piece` (< layout.num_pieces(), not already here); false, and nothing
  // started, when no buffer could be had (see ReserveBuffer).
  bool AddPiece(uint32_t piece);
  bool HasPiece(uint32_t piece) const { return Find(piece) != nullptr; }
  // Pieces being assembled, oldest first.
  std::vector<uint32_t> Pieces() const;
  // Calls f(piece, bytes_received) for each piece being assembled, without allocating.
  template <typename F>
  void ForEachPiece(F f) const {
    for (const auto& a : active_) f(a->piece, a->received_bytes);
  }
  size_t num_pieces() const { return active_.size(); }
  // Stops assembling `piece` (revoked, won by another peer, given up): appends a cancel
  // message to `cancels` for each of its blocks still in flight (when cancels is not null)
  // and forgets the piece. No-op for a piece not here.
  void DropPiece(uint32_t piece, std::string* cancels);
  // Bytes of `piece` received so far (0 when not here).
  uint32_t BytesReceived(uint32_t piece) const;
  // The assembled bytes of a complete piece; valid until FinishPiece/DropPiece of it.
  std::string_view PieceData(uint32_t piece) const;
  // Done with a complete piece that is not kept (it failed its check): its buffer is reused.
  void FinishPiece(uint32_t piece) { DropPiece(piece, nullptr); }
  // Forgets a complete piece and hands over its buffer (to be given back to the pool by
  // whoever is done with it last). Empty for a piece not here.
  PieceBuffer TakePiece(uint32_t piece);

  // --- requests ---

  // Appends request messages until the queue reaches its target depth or no unrequested
  // block is left. Returns the number appended. Only call while unchoked.
  uint32_t AppendRequests(std::string* out);
  uint32_t in_flight() const { return in_flight_; }
  uint32_t target_depth() const { return target_depth_; }
  // Pieces worth holding to keep the queue full: target depth in blocks, as pieces, plus
  // one being finished.
  uint32_t DesiredPieces() const;

  // --- events ---

  BlockResult OnBlock(uint32_t piece, uint32_t begin, std::string_view data, absl::Time now);
  // BEP 6 reject of a request.
  RejectResult OnReject(uint32_t piece, uint32_t begin, uint32_t length);
  // The peer choked us: every request in flight is void (BEP 3; with BEP 6 the peer also
  // rejects them, which is then a no-op). Blocks that still arrive are accepted if needed.
  void OnChoke();
  // The peer's request queue limit (BEP 10 "reqq"); the depth never exceeds it.
  void SetPeerQueueLimit(uint32_t reqq);
  // Refreshes the rate estimate (and so the target depth) when a window has passed.
  void Tick(absl::Time now);

 private:
  enum BlockState : uint8_t { kMissing, kRequested, kHave };
  struct Assembly {
    uint32_t piece = 0;
    uint32_t size = 0;
    uint32_t num_blocks = 0;
    uint32_t received_blocks = 0;
    uint32_t received_bytes = 0;
    uint32_t requested = 0;  // blocks in kRequested
    uint32_t missing = 0;    // blocks in kMissing
    uint32_t rejects = 0;
    // Lowest block index that may still be kMissing: requests go out in order.
    uint32_t next_missing = 0;
    std::vector<uint8_t> blocks;
    // piece_length bytes from the pool; kept for the Assembly's next piece unless taken.
    PieceBytes data;
  };

  Assembly* Find(uint32_t piece) const;
  void UpdateTarget();

  const bt::PieceLayout layout_;
  const Options options_;
  std::unique_ptr<BufferPool> own_pool_;
  BufferPool* const pool_;
  std::vector<std::unique_ptr<Assembly>> active_;
  // Buffers of finished pieces, kept for the next ones (at most a few).
  std::vector<std::unique_ptr<Assembly>> spare_;
  // A buffer taken by ReserveBuffer for the next piece.
  PieceBytes reserved_;
  mutable Assembly* last_found_ = nullptr;
  uint32_t in_flight_ = 0;
  uint32_t target_depth_;
  uint32_t peer_limit_ = 0;  // 0: unknown
  double rate_ = 0;
  bool measured_ = false;  // rate_ is from a window that saw data
  absl::Time window_start_;
  uint64_t window_bytes_ = 0;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_BLOCK_PIPELINE_H_
