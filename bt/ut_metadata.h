// ut_metadata (BEP 9): a torrent's info dictionary passed between peers in 16 KiB pieces,
// so that a magnet link (which has only the info-hash) becomes a torrent. The messages ride
// in BEP 10 extended messages under the id each side gave "ut_metadata" in its handshake;
// their payload is a bencoded dictionary, and a data message's piece follows it:
//
//   request  {msg_type: 0, piece: i}
//   data     {msg_type: 1, piece: i, total_size: n} <the piece's bytes>
//   reject   {msg_type: 2, piece: i}
//
// MetadataAssembler gathers the pieces of one peer-announced size and checks the whole
// against the info-hash before anyone uses it.
//
//   SWARM_ASSIGN_OR_RETURN(bt::MetadataMessage m, bt::ParseMetadataMessage(payload));
//   if (m.type == bt::MetadataMessageType::kData) assembler.Add(m.piece, m.data, peer);
//   if (assembler.complete()) SWARM_ASSIGN_OR_RETURN(std::string info, assembler.Finish());
//
// Pure.
#ifndef SWARM_BT_UT_METADATA_H_
#define SWARM_BT_UT_METADATA_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bt/sha1.h"

namespace swarm::bt {

inline constexpr uint32_t kMetadataPieceSize = 16 * 1024;
// No real info dictionary comes near this (a 100,000-file torrent's is a few MiB); a peer
// announcing more is refused rather than believed.
inline constexpr uint32_t kMaxMetadataSize = 16 << 20;

enum class MetadataMessageType : uint8_t { kRequest = 0, kData = 1, kReject = 2 };

struct MetadataMessage {
  MetadataMessageType type = MetadataMessageType::kRequest;
  uint32_t piece = 0;
  // kData: the whole dictionary's size, 1..kMaxMetadataSize, and this piece's bytes (a view
  // into the payload, exactly the piece's length for that size).
  uint32_t total_size = 0;
  std::string_view data;
};

// INVALID_ARGUMENT for a payload that is not a well-formed message (a data message whose
// piece does not fit its total_size included); UNIMPLEMENTED for a msg_type this side does
// not know, which BEP 9 says to ignore.
absl::StatusOr<MetadataMessage> ParseMetadataMessage(std::string_view payload);

std::string EncodeMetadataRequest(uint32_t piece);
std::string EncodeMetadataReject(uint32_t piece);
std::string EncodeMetadataData(uint32_t piece, uint32_t total_size, std::string_view data);

// Pieces of a dictionary of `total_size` bytes, and the length of one of them.
uint32_t MetadataPieces(uint32_t total_size);
uint32_t MetadataPieceLength(uint32_t total_size, uint32_t piece);

class MetadataAssembler {
 public:
  // `total_size` as a peer announced it (its handshake's "metadata_size"): 1..kMaxMetadataSize.
  static absl::StatusOr<MetadataAssembler> Create(const Sha1Digest& info_hash,
                                                  uint32_t total_size);

  uint32_t total_size() const { return static_cast<uint32_t>(bytes_.size()); }
  uint32_t pieces() const { return static_cast<uint32_t>(have_.size()); }
  bool Has(uint32_t piece) const { return piece < have_.size() && have_[piece]; }
  // The first piece not yet received at or after `from` (wrapping), or pieces() when none.
  uint32_t NextMissing(uint32_t from = 0) const;
  bool complete() const { return missing_ == 0; }

  // Keeps a piece, remembering who sent it (`source`, the caller's name for a peer).
  // INVALID_ARGUMENT for a piece out of range or of the wrong length; a piece already held is
  // ignored.
  absl::Status Add(uint32_t piece, std::string_view data, uint64_t source);

  // Once complete: the dictionary, when its SHA-1 is the info-hash. Otherwise DATA_LOSS,
  // every piece is dropped (to be fetched again), and `culprits` names who sent them.
  absl::StatusOr<std::string> Finish(std::vector<uint64_t>* culprits = nullptr);

 private:
  MetadataAssembler(const Sha1Digest& info_hash, uint32_t total_size);

  Sha1Digest info_hash_;
  std::string bytes_;
  std::vector<bool> have_;
  std::vector<uint64_t> sources_;
  uint32_t missing_;
};

}  // namespace swarm::bt

#endif  // SWARM_BT_UT_METADATA_H_
