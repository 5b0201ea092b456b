#include "storage/content_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace swarm::storage {
namespace {

absl::Status Errno(std::string_view what, const std::string& path) {
  const int e = errno;
  return absl::Status(
      e == ENOSPC ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kInternal,
      absl::StrCat(absl::string_view(what.data(), what.size()), " ", path, ": ", std::strerror(e)));
}

FileStamp StampOf(const struct stat& st) {
  FileStamp stamp;
  stamp.exists = true;
  stamp.size = static_cast<uint64_t>(st.st_size);
  stamp.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  return stamp;
}

// Reads shorter than this go through the page cache (uploads: 16 KiB blocks, which the
// kernel's readahead serves well); whole pieces to check go to the disk directly.
constexpr uint64_t kMinDirectRead = 256 << 10;

// How [offset, offset + length) of a file splits for a buffer at `data`: `head` bytes up to
// the first offset where file and buffer are both aligned, then `body` bytes O_DIRECT can
// move, then the rest. A buffer that never lines up with the file gets body 0.
struct DirectSplit {
  uint64_t head;
  uint64_t body;
};
DirectSplit SplitForDirectIo(const void* data, uint64_t offset, uint64_t length) {
  constexpr uint64_t kAlign = kDirectIoAlignment;
  if ((reinterpret_cast<uintptr_t>(data) - offset) % kAlign != 0) return {length, 0};
  const uint64_t head = std::min(length, (kAlign - offset % kAlign) % kAlign);
  return {head, (length - head) / kAlign * kAlign};
}

// Moves one range of a file in its three parts, `move(through_fd, at, n)` for each: the head
// and the rest through the page cache (`fd`), the aligned body with O_DIRECT (`direct_fd`),
// or through the page cache too when O_DIRECT refuses it.
template <typename Move>
absl::Status MoveInParts(int fd, int direct_fd, const DirectSplit& d, uint64_t length, Move move) {
  SWARM_RETURN_IF_ERROR(move(fd, 0, d.head));
  if (d.body > 0 && !move(direct_fd, d.head, d.body).ok()) {
    SWARM_RETURN_IF_ERROR(move(fd, d.head, d.body));
  }
  return move(fd, d.head + d.body, length - d.head - d.body);
}

}  // namespace

ContentFiles::Fd::~Fd() {
  if (dirty) fdatasync(fd);
  if (direct_fd >= 0) close(direct_fd);
  close(fd);
}

ContentFiles::ContentFiles(const bt::Metainfo& m, int root_fd, size_t max_open, bool read_only,
                           bool direct_io)
    : metainfo_(m),
      layout_(m.layout()),
      file_map_(m.file_map()),
      root_fd_(root_fd),
      max_open_(max_open < 1 ? 1 : max_open),
      read_only_(read_only),
      direct_io_(direct_io),
      found_(m.files.size()),
      fds_(m.files.size()) {}

ContentFiles::~ContentFiles() {
  {
    absl::MutexLock lock(&mu_);
    fds_.clear();
  }
  close(root_fd_);
}

absl::StatusOr<std::unique_ptr<ContentFiles>> ContentFiles::Open(const bt::Metainfo& metainfo,
                                                                 const std::string& output_dir,
                                                                 ContentMode mode,
                                                                 size_t max_open_files,
                                                                 bool direct_io) {
  const int root = open(output_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return Errno("cannot open output folder", output_dir);
  std::unique_ptr<ContentFiles> files(
      new ContentFiles(metainfo, root, max_open_files, mode == ContentMode::kReadOnly, direct_io));
  if (mode == ContentMode::kCreate || mode == ContentMode::kCreateOverwrite) {
    SWARM_RETURN_IF_ERROR(files->CreateLayout(mode == ContentMode::kCreateOverwrite));
  } else {
    for (uint32_t i = 0; i < metainfo.files.size(); ++i) {
      if (metainfo.files[i].pad) continue;
      SWARM_ASSIGN_OR_RETURN(int fd, files->OpenPath(i, /*create=*/false));
      struct stat st;
      if (fstat(fd, &st) == 0) files->found_[i] = StampOf(st);
      close(fd);
    }
  }
  return files;
}

absl::StatusOr<int> ContentFiles::OpenPath(uint32_t index, bool create, int extra_flags) const {
  const bt::FileEntry& file = metainfo_.files[index];
  const std::string rel = file.RelativePath();
  int dir = root_fd_;
  for (size_t i = 0; i + 1 < file.path.size(); ++i) {
    const char* name = file.path[i].c_str();
    if (create && mkdirat(dir, name, 0755) != 0 && errno != EEXIST) {
      const absl::Status s = Errno("cannot create folder for", rel);
      if (dir != root_fd_) close(dir);
      return s;
    }
    const int next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const int saved = errno;
    if (dir != root_fd_) close(dir);
    if (next < 0) {
      errno = saved;
      return Errno("cannot open folder of", rel);
    }
    dir = next;
  }
  // O_NONBLOCK: a FIFO or a device planted at the path must not hang the open; it is refused
  // just below. (Regular files ignore the flag.) A file with other names is only refused
  // for writing: seeding data that is also linked elsewhere (a media library) is harmless.
  const int flags = (read_only_ ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
                    O_NOCTTY | (create ? O_CREAT : 0) | extra_flags;
  const int fd = openat(dir, file.path.back().c_str(), flags, 0644);
  const int saved = errno;
  if (dir != root_fd_) close(dir);
  if (fd < 0) {
    errno = saved;
    return Errno("cannot open", rel);
  }
  struct stat st;
  std::string refused;
  if (fstat(fd, &st) != 0) {
    refused = absl::StrCat("cannot stat ", rel, ": ", std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    refused = absl::StrCat(rel, " is not a regular file (a FIFO, device or socket?): refusing it");
  } else if (st.st_nlink > 1 && !read_only_) {
    refused = absl::StrCat(rel, " has ", st.st_nlink,
                           " names (hard links): writing it would change another file too, so "
                           "it is refused");
  }
  if (!refused.empty()) {
    close(fd);
    return absl::FailedPreconditionError(refused);
  }
  return fd;
}

absl::Status ContentFiles::CreateLayout(bool overwrite) {
  found_existing_data_ = false;
  for (uint32_t i = 0; i < metainfo_.files.size(); ++i) {
    const bt::FileEntry& file = metainfo_.files[i];
    if (file.pad) continue;
    SWARM_ASSIGN_OR_RETURN(int fd, OpenPath(i, /*create=*/true));
    struct stat st;
    absl::Status status;
    const bool stat_ok = fstat(fd, &st) == 0;
    if (stat_ok && st.st_size > 0) found_existing_data_ = true;  // a resume, or someone's file
    // A file this call created is absent as far as any earlier record is concerned.
    if (stat_ok && st.st_size > 0) found_[i] = StampOf(st);
    if (!stat_ok) {
      status = Errno("cannot stat", file.RelativePath());
    } else if (st.st_size > 0 && static_cast<uint64_t>(st.st_size) != file.length && !overwrite) {
      // This download sizes its files when it makes them: one of another length is not its.
      status = absl::FailedPreconditionError(absl::StrCat(
          file.RelativePath(), " already exists and is ",
          static_cast<uint64_t>(st.st_size) > file.length ? "longer" : "shorter",
          " than the torrent's file (", st.st_size, " bytes, not ", file.length,
          "): it is not this torrent's download, so it is left alone. Move it away, or ask to "
          "overwrite it"));
    } else if (static_cast<uint64_t>(st.st_size) > file.length &&
               ftruncate(fd, static_cast<off_t>(file.length)) != 0) {
      status = Errno("cannot truncate", file.RelativePath());
    } else if (static_cast<uint64_t>(st.st_size) == file.length &&
               static_cast<uint64_t>(st.st_blocks) * 512 >= file.length) {
      // Whole and allocated already (a resume): left alone, its modification time too.
    } else if (file.length > 0) {
      // Reserve the blocks now so a full disk shows up before the download, not during it.
      // Filesystems without fallocate get a sparse file of the right size instead.
      const int rc = posix_fallocate(fd, 0, static_cast<off_t>(file.length));
      if (rc == ENOSPC) {
        errno = rc;
        status = Errno("not enough space for", file.RelativePath());
      } else if (rc != 0 && ftruncate(fd, static_cast<off_t>(file.length)) != 0) {
        status = Errno("cannot size", file.RelativePath());
      }
    }
    close(fd);
    SWARM_RETURN_IF_ERROR(status);
  }
  return absl::OkStatus();
}

std::vector<FileStamp> ContentFiles::StampNow() const {
  std::vector<FileStamp> stamps(metainfo_.files.size());
  for (uint32_t i = 0; i < metainfo_.files.size(); ++i) {
    if (metainfo_.files[i].pad) continue;
    absl::StatusOr<int> fd = OpenPath(i, /*create=*/false);
    if (!fd.ok()) continue;
    struct stat st;
    if (fstat(*fd, &st) == 0) stamps[i] = StampOf(st);
    close(*fd);
  }
  return stamps;
}

absl::StatusOr<std::shared_ptr<ContentFiles::Fd>> ContentFiles::FileFd(uint32_t index) {
  absl::MutexLock lock(&mu_);
  if (fds_[index]) return fds_[index];
  // Opening under the lock keeps the cache simple; opens are rare next to reads and writes.
  SWARM_ASSIGN_OR_RETURN(int fd, OpenPath(index, /*create=*/false));
  while (open_count_ >= max_open_) {
    next_victim_ = (next_victim_ + 1) % fds_.size();
    if (fds_[next_victim_]) {
      fds_[next_victim_].reset();
      --open_count_;
    }
  }
  // A filesystem without O_DIRECT (tmpfs before Linux 6.6, some FUSE ones) refuses it: the
  // page cache then does all the work.
  absl::StatusOr<int> direct =
      direct_io_ ? OpenPath(index, /*create=*/false, O_DIRECT) : absl::StatusOr<int>(-1);
  fds_[index] = std::make_shared<Fd>(fd, direct.ok() ? *direct : -1);
  ++open_count_;
  return fds_[index];
}

absl::Status ContentFiles::WritePiece(uint32_t piece, std::string_view data) {
  if (read_only_) return absl::FailedPreconditionError("content opened read-only");
  if (piece >= layout_.num_pieces() || data.size() != layout_.piece_size(piece)) {
    return absl::InvalidArgumentError(
        absl::StrCat("piece ", piece, " of ", data.size(), " bytes does not fit the torrent"));
  }
  for (const bt::FileSlice& s : file_map_.Slices(layout_.piece_offset(piece), data.size())) {
    if (metainfo_.files[s.file_index].pad) continue;
    SWARM_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, FileFd(s.file_index));
    const char* src = data.data() + s.data_offset;
    const DirectSplit d = fd->direct_fd >= 0 ? SplitForDirectIo(src, s.file_offset, s.length)
                                             : DirectSplit{s.length, 0};
    SWARM_RETURN_IF_ERROR(
        MoveInParts(fd->fd, fd->direct_fd, d, s.length, [&](int through, uint64_t at, uint64_t n) {
          return WriteAll(through, src + at, n, s.file_offset + at, s.file_index);
        }));
    fd->dirty = true;
  }
  return absl::OkStatus();
}

absl::Status ContentFiles::ReadPiece(uint32_t piece, std::string* out) {
  if (piece >= layout_.num_pieces()) {
    return absl::InvalidArgumentError(absl::StrCat("piece ", piece, " is out of range"));
  }
  out->resize(layout_.piece_size(piece));
  return ReadBlock(piece, 0, static_cast<uint32_t>(out->size()), out->data());
}

absl::Status ContentFiles::ReadBlock(uint32_t piece, uint32_t begin, uint32_t length, char* out) {
  if (!layout_.IsValidRange(piece, begin, length)) {
    return absl::InvalidArgumentError(
        absl::StrCat("range ", begin, "+", length, " of piece ", piece, " is out of range"));
  }
  for (const bt::FileSlice& s : file_map_.Slices(layout_.piece_offset(piece) + begin, length)) {
    if (metainfo_.files[s.file_index].pad) {
      std::memset(out + s.data_offset, 0, s.length);  // padding reads as zeros
      continue;
    }
    SWARM_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, FileFd(s.file_index));
    char* dst = out + s.data_offset;
    const DirectSplit d = fd->direct_fd >= 0 && s.length >= kMinDirectRead
                              ? SplitForDirectIo(dst, s.file_offset, s.length)
                              : DirectSplit{s.length, 0};
    SWARM_RETURN_IF_ERROR(
        MoveInParts(fd->fd, fd->direct_fd, d, s.length, [&](int through, uint64_t at, uint64_t n) {
          return ReadAll(through, dst + at, n, s.file_offset + at, s.file_index);
        }));
  }
  return absl::OkStatus();
}

absl::Status ContentFiles::WriteAll(int fd, const char* data, uint64_t length, uint64_t offset,
                                    uint32_t file_index) const {
  uint64_t done = 0;
  while (done < length) {
    const ssize_t n = pwrite(fd, data + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot write", metainfo_.files[file_index].RelativePath());
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ContentFiles::ReadAll(int fd, char* out, uint64_t length, uint64_t offset,
                                   uint32_t file_index) const {
  uint64_t done = 0;
  while (done < length) {
    const ssize_t n = pread(fd, out + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("cannot read", metainfo_.files[file_index].RelativePath());
    if (n == 0) {
      std::memset(out + done, 0, length - done);  // past the end of the file: zeros
      break;
    }
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ContentFiles::Sync() {
  for (uint32_t i = 0; i < metainfo_.files.size(); ++i) {
    if (metainfo_.files[i].pad || metainfo_.files[i].length == 0) continue;
    SWARM_ASSIGN_OR_RETURN(std::shared_ptr<Fd> fd, FileFd(i));
    fd->dirty = false;
    if (fdatasync(fd->fd) != 0) return Errno("cannot sync", metainfo_.files[i].RelativePath());
  }
  return absl::OkStatus();
}

}  // namespace swarm::storage
