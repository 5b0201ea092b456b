#include "coordinator/resume_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bt/bencode.h"

namespace swarm::coordinator {
namespace {

constexpr char kFormat[] = "swarm resume 1";
// A record is a bitfield and a few numbers per file: far below this.
constexpr size_t kMaxRecordBytes = 64u << 20;

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("resume record: ", what));
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
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
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no resume record at ", path));
    return Corrupt(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::string bytes;
  char buf[64 * 1024];
  absl::Status status;
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = Corrupt(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
      break;
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    if (bytes.size() > kMaxRecordBytes) {
      status = Corrupt(absl::StrCat(path, " is too large"));
      break;
    }
  }
  close(fd);
  if (!status.ok()) return status;
  return DecodeResumeRecord(bytes);
}

absl::Status SaveResumeRecord(const std::string& path, const ResumeRecord& record) {
  const std::string bytes = EncodeResumeRecord(record);
  const std::string temp = path + ".tmp";
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot create", temp);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const absl::Status s = Errno("cannot write", temp);
      close(fd);
      unlink(temp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  // Synced before the rename: after a crash the name points at a whole record or the old one.
  if (fsync(fd) != 0) {
    const absl::Status s = Errno("cannot sync", temp);
    close(fd);
    unlink(temp.c_str());
    return s;
  }
  close(fd);
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const absl::Status s = Errno("cannot rename onto", path);
    unlink(temp.c_str());
    return s;
  }
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);  // the rename itself; a folder that cannot be synced still has the record
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace swarm::coordinator
