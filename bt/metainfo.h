// Metainfo (.torrent) parsing and validation, BEP 3 with announce-list tiers (BEP 12).
//
// Validation is what keeps a hostile torrent harmless: the piece table must match the content
// length, and every path component is checked so that no torrent can name a file outside its
// output folder. The info-hash is the SHA-1 of the `info` dictionary's exact bytes.
//
//   SWARM_ASSIGN_OR_RETURN(bt::Metainfo m, bt::ParseMetainfo(file_bytes));
//   std::cout << m.name << " " << bt::ToHex(m.info_hash) << "\n";
//   for (const bt::FileSlice& s : m.PieceFiles(0)) ...
#ifndef SWARM_BT_METAINFO_H_
#define SWARM_BT_METAINFO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bt/file_map.h"
#include "bt/piece_layout.h"
#include "bt/sha1.h"

namespace swarm::bt {

struct FileEntry {
  // Path relative to the output folder, one validated component each. Single-file torrents:
  // {name}; multi-file torrents: {name, dir..., file}.
  std::vector<std::string> path;
  uint64_t length = 0;
  // Start of the file in the torrent's concatenated content.
  uint64_t offset = 0;
  // BEP 47 padding file (attr contains 'p'): part of the piece layout, never worth keeping.
  bool pad = false;

  // Components joined with '/'.
  std::string RelativePath() const;
};

struct Metainfo {
  std::string name;
  Sha1Digest info_hash{};
  // Exact bytes of the info dictionary (what the info-hash is taken over).
  std::string info_bytes;
  bool multi_file = false;
  std::vector<FileEntry> files;
  uint64_t total_length = 0;
  uint32_t piece_length = 0;
  // 20 bytes per piece, concatenated, as in the file.
  std::string piece_hashes;
  bool is_private = false;
  // Announce URLs by tier: announce-list when present (BEP 12), else one tier of `announce`.
  std::vector<std::vector<std::string>> trackers;
  std::optional<int64_t> creation_date;
  std::string comment;
  std::string created_by;

  uint32_t num_pieces() const { return static_cast<uint32_t>(piece_hashes.size() / 20); }
  // The expected SHA-1 of piece `piece` (< num_pieces()), as 20 raw bytes.
  std::string_view piece_hash(uint32_t piece) const {
    return std::string_view(piece_hashes).substr(size_t{piece} * 20, 20);
  }
  PieceLayout layout() const;
  FileMap file_map() const;
  // The file byte ranges that piece `piece` covers.
  std::vector<FileSlice> PieceFiles(uint32_t piece) const;
};

struct MetainfoLimits {
  size_t max_file_bytes = 64u << 20;
  size_t max_files = 1'000'000;
  size_t max_path_components = 64;
  // Linux NAME_MAX: a longer component could never be created.
  size_t max_component_bytes = 255;
};

// Parses and validates a .torrent file's bytes. Errors start with "metainfo:" and name the
// offending key or file entry.
absl::StatusOr<Metainfo> ParseMetainfo(std::string_view bytes,
                                       const MetainfoLimits& limits = MetainfoLimits());

// Checks one path component from an untrusted source: rejects empty, ".", "..", and anything
// holding '/', '\\' or NUL (absolute paths included), or longer than max_bytes.
absl::Status ValidatePathComponent(std::string_view component, size_t max_bytes = 255);

}  // namespace swarm::bt

#endif  // SWARM_BT_METAINFO_H_
