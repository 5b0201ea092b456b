#include "peer_svc/block_pipeline.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "bt/wire.h"

namespace swarm::peer_svc {
namespace {

// Finished pieces' buffers kept for reuse: enough for the usual churn of one connection
// without holding much memory once it slows down.
constexpr size_t kMaxSpare = 4;

}  // namespace

BlockPipeline::BlockPipeline(const bt::PieceLayout& layout, const Options& options, absl::Time now,
                             BufferPool* pool)
    : layout_(layout),
      options_(options),
      own_pool_(pool == nullptr ? std::make_unique<BufferPool>(layout.piece_length()) : nullptr),
      pool_(pool != nullptr ? pool : own_pool_.get()),
      target_depth_(std::max<uint32_t>(1, options.min_depth)),
      window_start_(now) {}

BlockPipeline::~BlockPipeline() {
  for (auto& a : active_) pool_->Put(std::move(a->data));
  ReturnSpareBuffers();
}

bool BlockPipeline::ReserveBuffer() {
  if (reserved_ != nullptr) return true;
  if (!spare_.empty() && spare_.back()->data != nullptr) return true;
  reserved_ = pool_->TryGet();
  return reserved_ != nullptr;
}

void BlockPipeline::ReturnSpareBuffers() {
  for (auto& a : spare_) pool_->Put(std::move(a->data));
  pool_->Put(std::move(reserved_));
}

BlockPipeline::Assembly* BlockPipeline::Find(uint32_t piece) const {
  // Blocks mostly arrive for the piece of the previous block.
  if (last_found_ != nullptr && last_found_->piece == piece) return last_found_;
  for (const auto& a : active_) {
    if (a->piece == piece) {
      last_found_ = a.get();
      return last_found_;
    }
  }
  return nullptr;
}

bool BlockPipeline::WantsPiece() const {
  uint32_t queued = in_flight_;
  for (const auto& a : active_) {
    queued += a->missing;
    if (queued >= target_depth_) return false;
  }
  return true;
}

bool BlockPipeline::AddPiece(uint32_t piece) {
  if (!ReserveBuffer()) return false;
  std::unique_ptr<Assembly> a;
  if (!spare_.empty()) {
    a = std::move(spare_.back());
    spare_.pop_back();
  } else {
    a = std::make_unique<Assembly>();
  }
  if (a->data == nullptr) a->data = std::move(reserved_);
  a->piece = piece;
  a->size = layout_.piece_size(piece);
  a->num_blocks = layout_.num_blocks(piece);
  a->received_blocks = 0;
  a->received_bytes = 0;
  a->requested = 0;
  a->missing = a->num_blocks;
  a->rejects = 0;
  a->next_missing = 0;
  a->blocks.assign(a->num_blocks, kMissing);
  active_.push_back(std::move(a));
  return true;
}

std::vector<uint32_t> BlockPipeline::Pieces() const {
  std::vector<uint32_t> out;
  out.reserve(active_.size());
  for (const auto& a : active_) out.push_back(a->piece);
  return out;
}

void BlockPipeline::DropPiece(uint32_t piece, std::string* cancels) {
  auto it = std::find_if(active_.begin(), active_.end(),
                         [piece](const auto& a) { return a->piece == piece; });
  if (it == active_.end()) return;
  Assembly& a = **it;
  if (a.requested > 0) {
    for (uint32_t b = 0; b < a.num_blocks; ++b) {
      if (a.blocks[b] != kRequested) continue;
      if (cancels != nullptr) {
        bt::AppendCancel(cancels, piece, b * bt::kBlockSize, layout_.block_length(piece, b));
      }
    }
    in_flight_ -= a.requested;
  }
  if (last_found_ == it->get()) last_found_ = nullptr;
  if (spare_.size() < kMaxSpare) {
    spare_.push_back(std::move(*it));
  } else {
    pool_->Put(std::move((*it)->data));
  }
  active_.erase(it);
}

PieceBuffer BlockPipeline::TakePiece(uint32_t piece) {
  Assembly* a = Find(piece);
  if (a == nullptr) return PieceBuffer();
  PieceBuffer taken(std::move(a->data), a->size);
  DropPiece(piece, nullptr);
  return taken;
}

uint32_t BlockPipeline::BytesReceived(uint32_t piece) const {
  const Assembly* a = Find(piece);
  return a == nullptr ? 0 : a->received_bytes;
}

std::string_view BlockPipeline::PieceData(uint32_t piece) const {
  const Assembly* a = Find(piece);
  if (a == nullptr) return {};
  return std::string_view(a->data.get(), a->size);
}

uint32_t BlockPipeline::AppendRequests(std::string* out) {
  uint32_t sent = 0;
  // Oldest piece first, blocks in order: pieces complete one after another, which bounds the
  // buffers in use and lets the peer read its disk sequentially.
  for (const auto& ap : active_) {
    if (in_flight_ >= target_depth_) break;
    Assembly& a = *ap;
    while (a.missing > 0 && in_flight_ < target_depth_) {
      while (a.next_missing < a.num_blocks && a.blocks[a.next_missing] != kMissing) {
        ++a.next_missing;
      }
      if (a.next_missing >= a.num_blocks) break;  // cannot happen while missing > 0
      const uint32_t b = a.next_missing++;
      a.blocks[b] = kRequested;
      --a.missing;
      ++a.requested;
      ++in_flight_;
      ++sent;
      bt::AppendRequest(out, a.piece, b * bt::kBlockSize, layout_.block_length(a.piece, b));
    }
  }
  return sent;
}

uint32_t BlockPipeline::DesiredPieces() const {
  const uint64_t bytes = uint64_t{target_depth_} * bt::kBlockSize;
  return static_cast<uint32_t>((bytes + layout_.piece_length() - 1) / layout_.piece_length()) + 1;
}

BlockPipeline::BlockResult BlockPipeline::OnBlock(uint32_t piece, uint32_t begin,
                                                  std::string_view data, absl::Time now) {
  Assembly* a = Find(piece);
  if (a == nullptr) return BlockResult::kIgnored;
  if (!layout_.IsBlock(piece, begin, static_cast<uint32_t>(data.size()))) {
    return BlockResult::kInvalid;
  }
  const uint32_t b = begin / bt::kBlockSize;
  switch (a->blocks[b]) {
    case kHave:
      return BlockResult::kIgnored;
    case kRequested:
      --a->requested;
      --in_flight_;
      break;
    case kMissing:
      // Requested before a choke voided it, or sent unasked: still the bytes we need.
      --a->missing;
      break;
  }
  a->blocks[b] = kHave;
  std::memcpy(a->data.get() + begin, data.data(), data.size());
  ++a->received_blocks;
  a->received_bytes += static_cast<uint32_t>(data.size());
  window_bytes_ += data.size();
  if (!measured_) {
    const uint32_t cap =
        peer_limit_ > 0 ? std::min(peer_limit_, options_.max_depth) : options_.max_depth;
    if (target_depth_ < cap) ++target_depth_;
  }
  if (now - window_start_ >= options_.rate_window) Tick(now);
  return a->received_blocks == a->num_blocks ? BlockResult::kPieceComplete : BlockResult::kStored;
}

BlockPipeline::RejectResult BlockPipeline::OnReject(uint32_t piece, uint32_t begin,
                                                    uint32_t length) {
  Assembly* a = Find(piece);
  if (a == nullptr || !layout_.IsBlock(piece, begin, length)) return RejectResult::kIgnored;
  const uint32_t b = begin / bt::kBlockSize;
  if (a->blocks[b] != kRequested) return RejectResult::kIgnored;
  a->blocks[b] = kMissing;
  --a->requested;
  --in_flight_;
  ++a->missing;
  a->next_missing = std::min(a->next_missing, b);
  ++a->rejects;
  return a->rejects >= options_.max_rejects_per_piece ? RejectResult::kGiveUp
                                                      : RejectResult::kRetry;
}

void BlockPipeline::OnChoke() {
  for (const auto& ap : active_) {
    Assembly& a = *ap;
    if (a.requested == 0) continue;
    for (uint32_t b = 0; b < a.num_blocks; ++b) {
      if (a.blocks[b] == kRequested) {
        a.blocks[b] = kMissing;
        a.next_missing = std::min(a.next_missing, b);
      }
    }
    a.missing += a.requested;
    a.requested = 0;
  }
  in_flight_ = 0;
}

void BlockPipeline::SetPeerQueueLimit(uint32_t reqq) {
  peer_limit_ = reqq;
  UpdateTarget();
}

void BlockPipeline::Tick(absl::Time now) {
  const absl::Duration elapsed = now - window_start_;
  if (elapsed < options_.rate_window) return;
  if (!measured_ && window_bytes_ == 0) {
    // Nothing yet (still choked, say): keep slow start going, measure from here.
    window_start_ = now;
    return;
  }
  measured_ = true;
  const double sample = static_cast<double>(window_bytes_) / absl::ToDoubleSeconds(elapsed);
  // Even weight to the newest window: quick to follow a peer that speeds up (the depth must
  // grow for the rate to grow), and one idle window only halves the estimate.
  rate_ = rate_ == 0 ? sample : (rate_ + sample) / 2;
  window_start_ = now;
  window_bytes_ = 0;
  UpdateTarget();
}

void BlockPipeline::UpdateTarget() {
  uint32_t target = target_depth_;  // slow start: as far as it got
  if (measured_) {
    const double blocks = rate_ * absl::ToDoubleSeconds(options_.horizon) / bt::kBlockSize;
    target = options_.max_depth;
    if (blocks < options_.max_depth) target = static_cast<uint32_t>(blocks);
  }
  target = std::max(target, options_.min_depth);
  // A peer's own limit wins over our floor: beyond it requests are dropped or rejected.
  if (peer_limit_ > 0) target = std::min(target, peer_limit_);
  target_depth_ = std::max<uint32_t>(target, 1);
}

}  // namespace swarm::peer_svc
