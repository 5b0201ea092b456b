#include "bt/file_map.h"

#include <algorithm>

namespace swarm::bt {

FileMap::FileMap(const std::vector<uint64_t>& file_lengths) {
  starts_.reserve(file_lengths.size() + 1);
  uint64_t offset = 0;
  for (uint64_t length : file_lengths) {
    starts_.push_back(offset);
    offset += length;
  }
  starts_.push_back(offset);
}

std::vector<FileSlice> FileMap::Slices(uint64_t offset, uint64_t length) const {
  std::vector<FileSlice> out;
  const uint64_t end = std::min(total_length(), offset + length);
  if (starts_.size() < 2 || offset >= end) return out;
  // The last file starting at or before `offset` (skips earlier empty files too).
  auto it = std::upper_bound(starts_.begin(), starts_.end() - 1, offset);
  uint32_t i = static_cast<uint32_t>(it - starts_.begin()) - 1;
  for (uint64_t pos = offset; pos < end; ++i) {
    const uint64_t file_end = starts_[i + 1];
    if (file_end <= pos) continue;  // empty file
    const uint64_t n = std::min(end, file_end) - pos;
    out.push_back(FileSlice{i, pos - starts_[i], n, pos - offset});
    pos += n;
  }
  return out;
}

}  // namespace swarm::bt
