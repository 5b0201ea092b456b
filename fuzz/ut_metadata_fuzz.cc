// libFuzzer target for bt::ParseMetadataMessage and MetadataAssembler, which take what any
// peer sends under ut_metadata: an accepted data message fits its piece, and an assembler
// fed with it neither overruns nor accepts a dictionary that is not the info-hash's.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bt/ut_metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swarm::bt;  // NOLINT
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<MetadataMessage> m = ParseMetadataMessage(input);
  if (!m.ok() || m->type != MetadataMessageType::kData) return 0;
  if (m->total_size < 1 || m->total_size > kMaxMetadataSize ||
      m->piece >= MetadataPieces(m->total_size) ||
      m->data.size() != MetadataPieceLength(m->total_size, m->piece)) {
    std::abort();
  }
  // The info-hash of nothing in particular: whatever completes must not be taken for it.
  absl::StatusOr<MetadataAssembler> a = MetadataAssembler::Create(Sha1Digest{}, m->total_size);
  if (!a.ok() || !a->Add(m->piece, m->data, 1).ok()) std::abort();
  if (a->complete() && a->Finish().ok()) std::abort();
  return 0;
}
