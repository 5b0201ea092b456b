// Piece and block arithmetic of one torrent: piece length, the shorter last piece, and the
// 16 KiB blocks that peers request. Built once from validated metainfo; indices it hands out
// need no further checks.
//
//   SWARM_ASSIGN_OR_RETURN(bt::PieceLayout layout,
//                          bt::PieceLayout::Create(total_length, piece_length));
//   for (uint32_t b = 0; b < layout.num_blocks(piece); ++b)
//     Request(piece, b * bt::kBlockSize, layout.block_length(piece, b));
#ifndef SWARM_BT_PIECE_LAYOUT_H_
#define SWARM_BT_PIECE_LAYOUT_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace swarm::bt {

// The block size every client requests (BEP 3 practice; larger requests are refused by many).
inline constexpr uint32_t kBlockSize = 16 * 1024;
// Largest piece length accepted: a piece is held in memory while in flight.
inline constexpr uint64_t kMaxPieceLength = 256ull << 20;

class PieceLayout {
 public:
  // Fails unless 0 < piece_length <= kMaxPieceLength, total_length > 0 and the piece count
  // fits in 32 bits.
  static absl::StatusOr<PieceLayout> Create(uint64_t total_length, uint64_t piece_length);

  uint64_t total_length() const { return total_length_; }
  uint32_t piece_length() const { return piece_length_; }
  uint32_t num_pieces() const { return num_pieces_; }
  // Length of piece `piece` (the last one may be shorter). piece < num_pieces().
  uint32_t piece_size(uint32_t piece) const {
    return piece + 1 == num_pieces_ ? last_piece_length_ : piece_length_;
  }
  // Byte offset of piece `piece` in the torrent's concatenated content.
  uint64_t piece_offset(uint32_t piece) const { return uint64_t{piece} * piece_length_; }
  uint32_t num_blocks(uint32_t piece) const {
    return (piece_size(piece) + kBlockSize - 1) / kBlockSize;
  }
  // Length of block `block` of `piece` (the last block of a piece may be shorter).
  uint32_t block_length(uint32_t piece, uint32_t block) const;
  // True when [begin, begin + length) is a non-empty range inside piece `piece`, and piece is
  // in range. Safe on any input (for requests and blocks from the network).
  bool IsValidRange(uint32_t piece, uint32_t begin, uint32_t length) const;
  // True when the range is exactly one of the piece's blocks (what we request).
  bool IsBlock(uint32_t piece, uint32_t begin, uint32_t length) const;

 private:
  PieceLayout(uint64_t total, uint32_t piece_length, uint32_t num_pieces, uint32_t last)
      : total_length_(total),
        piece_length_(piece_length),
        num_pieces_(num_pieces),
        last_piece_length_(last) {}
  uint64_t total_length_;
  uint32_t piece_length_;
  uint32_t num_pieces_;
  uint32_t last_piece_length_;
};

}  // namespace swarm::bt

#endif  // SWARM_BT_PIECE_LAYOUT_H_
