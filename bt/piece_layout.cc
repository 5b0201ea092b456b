#include "bt/piece_layout.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace swarm::bt {

absl::StatusOr<PieceLayout> PieceLayout::Create(uint64_t total_length, uint64_t piece_length) {
  if (piece_length == 0 || piece_length > kMaxPieceLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece length ", piece_length, " is outside 1..", kMaxPieceLength));
  }
  if (total_length == 0) return absl::InvalidArgumentError("torrent has no content (length 0)");
  const uint64_t pieces = (total_length + piece_length - 1) / piece_length;
  if (pieces > UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("too many pieces: ", pieces));
  }
  const uint64_t last = total_length - (pieces - 1) * piece_length;
  return PieceLayout(total_length, static_cast<uint32_t>(piece_length),
                     static_cast<uint32_t>(pieces), static_cast<uint32_t>(last));
}

uint32_t PieceLayout::block_length(uint32_t piece, uint32_t block) const {
  const uint64_t begin = uint64_t{block} * kBlockSize;
  return static_cast<uint32_t>(std::min<uint64_t>(kBlockSize, piece_size(piece) - begin));
}

bool PieceLayout::IsValidRange(uint32_t piece, uint32_t begin, uint32_t length) const {
  if (piece >= num_pieces_ || length == 0) return false;
  return uint64_t{begin} + length <= piece_size(piece);
}

bool PieceLayout::IsBlock(uint32_t piece, uint32_t begin, uint32_t length) const {
  if (!IsValidRange(piece, begin, length) || begin % kBlockSize != 0) return false;
  return length == block_length(piece, begin / kBlockSize);
}

}  // namespace swarm::bt
