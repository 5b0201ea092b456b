#include "coordinator/resume_record.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bt/bencode.h"
#include "coordinator/state_file.h"

namespace swarm::coordinator {
namespace {

constexpr char kFormat[] = "swarm resume 1";
// A record is a bitfield and a few numbers per file: far below this.
constexpr size_t kMaxRecordBytes = 64u << 20;

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("resume record: ", what));
}

std::optional<int64_t> IntAt(const bt::BView& dict, std::string_view key) {
  std::optional<bt::BView> v = dict.Find(key);
  if (!v || !v->is_int()) return std::nullopt;
  return v->int_value();
}

std::optional<std::string_view> StringAt(const bt::BView& dict, std::string_view key) {
  std::optional<bt::BView> v = dict.Find(key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->string_value();
}

}  // namespace

std::string EncodeResumeRecord(const ResumeRecord& record) {
  bt::BValue::List files;
  files.reserve(record.files.size());
  for (const storage::FileStamp& f : record.files) {
    files.emplace_back(
        bt::BValue::List{int64_t{f.exists}, static_cast<int64_t>(f.size), f.mtime_ns});
  }
  bt::BValue::Dict d;
  d["files"] = std::move(files);
  d["format"] = kFormat;
  d["info-hash"] = record.info_hash;
  d["output dir"] = record.output_dir;
  d["piece count"] = static_cast<int64_t>(record.verified.size());
  d["pieces"] = record.verified.ToBytes();
  return bt::Encode(bt::BValue(std::move(d)));
}

absl::StatusOr<ResumeRecord> DecodeResumeRecord(std::string_view bytes) {
  bt::DecodeLimits limits;
  limits.max_input_bytes = kMaxRecordBytes;
  absl::StatusOr<bt::BDocument> doc = bt::BDocument::Parse(bytes, limits);
  if (!doc.ok()) return Corrupt(doc.status().message());
  const bt::BView root = doc->root();
  if (!root.is_dict()) return Corrupt("not a dictionary");
  if (StringAt(root, "format") != std::string_view(kFormat)) return Corrupt("unknown format");
  ResumeRecord r;
  std::optional<std::string_view> info_hash = StringAt(root, "info-hash");
  if (!info_hash || info_hash->size() != 20) return Corrupt("bad info-hash");
  r.info_hash = std::string(*info_hash);
  std::optional<std::string_view> output_dir = StringAt(root, "output dir");
  if (!output_dir) return Corrupt("no output dir");
  r.output_dir = std::string(*output_dir);
  std::optional<int64_t> count = IntAt(root, "piece count");
  std::optional<std::string_view> pieces = StringAt(root, "pieces");
  if (!count || *count <= 0 || *count > int64_t{UINT32_MAX} || !pieces) {
    return Corrupt("bad piece count or pieces");
  }
  absl::StatusOr<bt::Bitfield> verified =
      bt::Bitfield::FromBytes(*pieces, static_cast<uint32_t>(*count));
  if (!verified.ok()) return Corrupt(verified.status().message());
  r.verified = *std::move(verified);
  std::optional<bt::BView> files = root.Find("files");
  if (!files || !files->is_list()) return Corrupt("no file list");
  for (const bt::BView& f : files->items()) {
    const std::vector<bt::BView> v = f.items();
    if (!f.is_list() || v.size() != 3 || !v[0].is_int() || !v[1].is_int() || !v[2].is_int() ||
        v[0].int_value() < 0 || v[0].int_value() > 1 || v[1].int_value() < 0) {
      return Corrupt("bad file entry");
    }
    storage::FileStamp stamp;
    stamp.exists = v[0].int_value() == 1;
    stamp.size = static_cast<uint64_t>(v[1].int_value());
    stamp.mtime_ns = v[2].int_value();
    r.files.push_back(stamp);
  }
  return r;
}

absl::StatusOr<ResumeRecord> LoadResumeRecord(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadStateFile(path, kMaxRecordBytes);
  if (absl::IsNotFound(bytes.status())) {
    return absl::NotFoundError(absl::StrCat("no resume record at ", path));
  }
  if (!bytes.ok()) return Corrupt(bytes.status().message());
  return DecodeResumeRecord(*bytes);
}

absl::Status SaveResumeRecord(const std::string& path, const ResumeRecord& record) {
  return WriteStateFile(path, EncodeResumeRecord(record));
}

}  // namespace swarm::coordinator
