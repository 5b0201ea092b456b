// libFuzzer target: metainfo parsing and validation on arbitrary bytes. A torrent that
// parses must be self-consistent: piece table matches the content, every path component is
// safe, and the piece-to-file map covers each piece exactly.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bt/metainfo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto m = swarm::bt::ParseMetainfo(input);
  if (!m.ok()) return 0;
  if (m->num_pieces() == 0 || m->total_length == 0) std::abort();
  const swarm::bt::PieceLayout layout = m->layout();
  if (layout.num_pieces() != m->num_pieces()) std::abort();
  for (const swarm::bt::FileEntry& f : m->files) {
    if (f.path.empty()) std::abort();
    for (const std::string& c : f.path) {
      if (!swarm::bt::ValidatePathComponent(c).ok()) std::abort();
    }
  }
  // Check the first and last few pieces' file coverage (all of them could be millions).
  const uint32_t n = m->num_pieces();
  for (uint32_t p : {0u, n / 2, n - 1}) {
    uint64_t covered = 0;
    for (const swarm::bt::FileSlice& s : m->PieceFiles(p)) {
      if (s.data_offset != covered) std::abort();
      if (s.file_offset + s.length > m->files[s.file_index].length) std::abort();
      covered += s.length;
    }
    if (covered != layout.piece_size(p)) std::abort();
  }
  return 0;
}
