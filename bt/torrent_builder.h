// Builds a .torrent (BEP 3, announce-list per BEP 12) from a content description and the
// piece hashes, which the caller computes (hashing is I/O; bt/ does none).
//
//   bt::TorrentSpec spec;
//   spec.name = "photos";
//   spec.files = {{{"a.jpg"}, 1000}, {{"sub", "b.jpg"}, 5000}};   // empty path: single file
//   spec.piece_length = bt::DefaultPieceLength(6000);
//   spec.trackers = {{"http://tracker/announce"}};
//   spec.piece_hashes = ...;                 // 20 bytes per piece, concatenated
//   SWARM_ASSIGN_OR_RETURN(std::string bytes, bt::BuildTorrent(spec));
#ifndef SWARM_BT_TORRENT_BUILDER_H_
#define SWARM_BT_TORRENT_BUILDER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace swarm::bt {

struct TorrentSpec {
  struct File {
    // Components below the torrent's name folder; empty for a single-file torrent.
    std::vector<std::string> path;
    uint64_t length = 0;
  };
  std::string name;
  // One entry with an empty path: a single-file torrent. Otherwise multi-file, in this order.
  std::vector<File> files;
  uint32_t piece_length = 0;
  std::string piece_hashes;
  // Tiers of announce URLs; the first URL is also written as `announce`.
  std::vector<std::vector<std::string>> trackers;
  bool is_private = false;
  std::string comment;
  std::string created_by;
  std::optional<int64_t> creation_date;
};

// A piece length for `total_bytes` of content: about 1000-2000 pieces, a power of two from
// 16 KiB to 16 MiB (what mktorrent and transmission-create aim for).
uint32_t DefaultPieceLength(uint64_t total_bytes);

// The .torrent bytes. The result is checked with ParseMetainfo, so whatever this returns
// loads (names and paths validated, piece count matching the length).
absl::StatusOr<std::string> BuildTorrent(const TorrentSpec& spec);

}  // namespace swarm::bt

#endif  // SWARM_BT_TORRENT_BUILDER_H_
