// Maps byte ranges of a torrent's concatenated content onto its files: a piece (or block)
// may span several files, and a writer or reader needs each file's part of it.
//
//   bt::FileMap map({1000, 0, 3000});   // file lengths in torrent order
//   for (const bt::FileSlice& s : map.Slices(layout.piece_offset(p), layout.piece_size(p)))
//     pwrite(fds[s.file_index], data + s.data_offset, s.length, s.file_offset);
#ifndef SWARM_BT_FILE_MAP_H_
#define SWARM_BT_FILE_MAP_H_

#include <cstdint>
#include <vector>

namespace swarm::bt {

// One file's part of a content range.
struct FileSlice {
  uint32_t file_index;   // index into the torrent's file list
  uint64_t file_offset;  // where the part starts in that file
  uint64_t length;       // bytes in this file
  uint64_t data_offset;  // where the part starts within the requested range
  bool operator==(const FileSlice& o) const {
    return file_index == o.file_index && file_offset == o.file_offset && length == o.length &&
           data_offset == o.data_offset;
  }
};

class FileMap {
 public:
  explicit FileMap(const std::vector<uint64_t>& file_lengths);

  uint64_t total_length() const { return starts_.empty() ? 0 : starts_.back(); }

  // The files covering [offset, offset + length), in order, skipping empty files. A range
  // past the end is cut at total_length().
  std::vector<FileSlice> Slices(uint64_t offset, uint64_t length) const;

 private:
  // starts_[i] = offset of file i; starts_.back() = total length (one extra entry).
  std::vector<uint64_t> starts_;
};

}  // namespace swarm::bt

#endif  // SWARM_BT_FILE_MAP_H_
