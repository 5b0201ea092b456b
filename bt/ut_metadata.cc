#include "bt/ut_metadata.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "bt/bencode.h"

namespace swarm::bt {
namespace {

// The dictionary is three small integers; some clients add a key or two.
constexpr DecodeLimits kMessageLimits = [] {
  DecodeLimits l;
  l.max_depth = 2;
  l.max_tokens = 32;
  l.max_input_bytes = 512;
  l.allow_unsorted_keys = true;
  return l;
}();

constexpr int64_t kMaxPieces = kMaxMetadataSize / kMetadataPieceSize;

std::string Header(MetadataMessageType type, uint32_t piece) {
  return absl::StrCat("d8:msg_typei", static_cast<int>(type), "e5:piecei", piece, "ee");
}

}  // namespace

absl::StatusOr<MetadataMessage> ParseMetadataMessage(std::string_view payload) {
  absl::StatusOr<BDocument> doc = BDocument::ParsePrefix(payload, kMessageLimits);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("ut_metadata: ", doc.status().message()));
  }
  const BView root = doc->root();
  if (!root.is_dict()) return absl::InvalidArgumentError("ut_metadata: not a dictionary");
  const std::optional<BView> type = root.Find("msg_type");
  const std::optional<BView> piece = root.Find("piece");
  if (!type || !type->is_int() || !piece || !piece->is_int()) {
    return absl::InvalidArgumentError("ut_metadata: no integer msg_type and piece");
  }
  if (type->int_value() < 0 || type->int_value() > 2) {
    return absl::UnimplementedError(
        absl::StrCat("ut_metadata: unknown msg_type ", type->int_value()));
  }
  if (piece->int_value() < 0 || piece->int_value() >= kMaxPieces) {
    return absl::InvalidArgumentError(
        absl::StrCat("ut_metadata: piece ", piece->int_value(), " out of range"));
  }
  MetadataMessage m;
  m.type = static_cast<MetadataMessageType>(type->int_value());
  m.piece = static_cast<uint32_t>(piece->int_value());
  const std::string_view rest = payload.substr(root.raw().size());
  if (m.type != MetadataMessageType::kData) return m;  // anything after it: ignored
  const std::optional<BView> total = root.Find("total_size");
  if (!total || !total->is_int() || total->int_value() < 1 ||
      total->int_value() > kMaxMetadataSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("ut_metadata: data without a total_size in 1..", kMaxMetadataSize));
  }
  m.total_size = static_cast<uint32_t>(total->int_value());
  if (m.piece >= MetadataPieces(m.total_size)) {
    return absl::InvalidArgumentError(absl::StrCat("ut_metadata: piece ", m.piece,
                                                   " of a dictionary of ", m.total_size,
                                                   " bytes"));
  }
  if (rest.size() != MetadataPieceLength(m.total_size, m.piece)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ut_metadata: piece ", m.piece, " has ", rest.size(), " bytes, not ",
                     MetadataPieceLength(m.total_size, m.piece)));
  }
  m.data = rest;
  return m;
}

std::string EncodeMetadataRequest(uint32_t piece) {
  return Header(MetadataMessageType::kRequest, piece);
}

std::string EncodeMetadataReject(uint32_t piece) {
  return Header(MetadataMessageType::kReject, piece);
}

std::string EncodeMetadataData(uint32_t piece, uint32_t total_size, std::string_view data) {
  std::string out = absl::StrCat("d8:msg_typei1e5:piecei", piece, "e10:total_sizei", total_size, "ee");
  out.append(data);
  return out;
}

uint32_t MetadataPieces(uint32_t total_size) {
  return (total_size + kMetadataPieceSize - 1) / kMetadataPieceSize;
}

uint32_t MetadataPieceLength(uint32_t total_size, uint32_t piece) {
  const uint64_t begin = uint64_t{piece} * kMetadataPieceSize;
  if (begin >= total_size) return 0;
  return static_cast<uint32_t>(std::min<uint64_t>(kMetadataPieceSize, total_size - begin));
}

absl::StatusOr<MetadataAssembler> MetadataAssembler::Create(const Sha1Digest& info_hash,
                                                            uint32_t total_size) {
  if (total_size < 1 || total_size > kMaxMetadataSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata of ", total_size, " bytes announced: not in 1..", kMaxMetadataSize));
  }
  return MetadataAssembler(info_hash, total_size);
}

MetadataAssembler::MetadataAssembler(const Sha1Digest& info_hash, uint32_t total_size)
    : info_hash_(info_hash),
      bytes_(total_size, '\0'),
      have_(MetadataPieces(total_size), false),
      sources_(have_.size(), 0),
      missing_(static_cast<uint32_t>(have_.size())) {}

uint32_t MetadataAssembler::NextMissing(uint32_t from) const {
  const uint32_t n = pieces();
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t p = (from + i) % n;
    if (!have_[p]) return p;
  }
  return n;
}

absl::Status MetadataAssembler::Add(uint32_t piece, std::string_view data, uint64_t source) {
  if (piece >= pieces()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata piece ", piece, " of ", pieces(), " pieces"));
  }
  const uint32_t length = MetadataPieceLength(total_size(), piece);
  if (data.size() != length) {
    return absl::InvalidArgumentError(absl::StrCat("metadata piece ", piece, " has ", data.size(),
                                                   " bytes, not ", length));
  }
  if (have_[piece]) return absl::OkStatus();
  bytes_.replace(size_t{piece} * kMetadataPieceSize, length, data);
  have_[piece] = true;
  sources_[piece] = source;
  --missing_;
  return absl::OkStatus();
}

absl::StatusOr<std::string> MetadataAssembler::Finish(std::vector<uint64_t>* culprits) {
  if (!complete()) {
    return absl::FailedPreconditionError(
        absl::StrCat("metadata incomplete: ", missing_, " of ", pieces(), " pieces missing"));
  }
  if (Sha1(bytes_) == info_hash_) return bytes_;
  if (culprits != nullptr) {
    culprits->assign(sources_.begin(), sources_.end());
    std::sort(culprits->begin(), culprits->end());
    culprits->erase(std::unique(culprits->begin(), culprits->end()), culprits->end());
  }
  std::fill(have_.begin(), have_.end(), false);
  missing_ = pieces();
  return absl::DataLossError("metadata does not match the info-hash");
}

}  // namespace swarm::bt
