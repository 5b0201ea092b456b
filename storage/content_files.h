// A torrent's content on disk under an output folder: creates the folder tree and the files
// (preallocated), and reads and writes whole pieces across file boundaries with pread/pwrite.
// Used by the coordinator (layout, resume re-hash, relay writes) and by peer workers (writes).
//
// Safety: paths come from bt::Metainfo, whose components are already validated; on top of
// that every folder and file is opened relative to the output folder with O_NOFOLLOW, so a
// symlink planted inside the output folder cannot redirect a write outside it. Only regular
// files with no other hard link are opened (a FIFO, a device or a second name of some other
// file is refused, without blocking on it), and kCreate never cuts a longer file down.
// BEP 47 padding files are never created: writes to them are dropped, reads give zeros.
//
// Direct I/O (Open's `direct_io`, used by the workers): whole pieces go to disk and come back
// with O_DIRECT wherever the caller's buffer and the file offset line up on
// kDirectIoAlignment (a piece-aligned file, a page-aligned buffer): no copy through the page
// cache, which on a fresh download costs more CPU than the rest of the data path together.
// The unaligned ends of a range, small reads (uploads) and filesystems without O_DIRECT use
// the page cache as usual; the kernel keeps the two views of a file coherent.
//
//   SWARM_ASSIGN_OR_RETURN(auto files, ContentFiles::Open(metainfo, "/data", kCreate));
//   SWARM_RETURN_IF_ERROR(files->WritePiece(7, verified_bytes));
//
// Thread-safe: many peer connections may write different pieces at once.
#ifndef SWARM_STORAGE_CONTENT_FILES_H_
#define SWARM_STORAGE_CONTENT_FILES_H_

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "bt/metainfo.h"

namespace swarm::storage {

// What stat says of one of the torrent's files: enough to tell whether it changed since.
struct FileStamp {
  bool exists = false;
  uint64_t size = 0;
  // Modification time, nanoseconds since the epoch.
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp& o) const {
    return exists == o.exists && size == o.size && mtime_ns == o.mtime_ns;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

// What O_DIRECT needs: buffer address, file offset and length multiples of this.
inline constexpr size_t kDirectIoAlignment = 4096;

enum class ContentMode {
  // Create missing folders and files and set every file to its length (preallocated).
  // Existing data is kept (this is how a job resumes). A non-empty file of another length
  // than the torrent's is refused: a download makes its files at their full length, so
  // this one is someone else's, not ours to cut down or extend.
  kCreate,
  // kCreate, except that files of another length are cut or extended to the torrent's (the
  // user asked to overwrite).
  kCreateOverwrite,
  // Files must already exist (a worker writing into a layout the coordinator made).
  kOpenExisting,
  // Files must already exist and are only read (hashing data for a new torrent).
  kReadOnly,
};

class ContentFiles {
 public:
  // `output_dir` must exist. At most `max_open_files` files are held open at once (two
  // descriptors each with `direct_io`: one of them O_DIRECT).
  static absl::StatusOr<std::unique_ptr<ContentFiles>> Open(const bt::Metainfo& metainfo,
                                                            const std::string& output_dir,
                                                            ContentMode mode,
                                                            size_t max_open_files = 128,
                                                            bool direct_io = false);
  ~ContentFiles();

  // Writes `data` (exactly the piece's size) at the piece's place.
  absl::Status WritePiece(uint32_t piece, std::string_view data);
  // Reads the piece into *out (resized to the piece's size). Bytes past a file's current end
  // read as zeros.
  absl::Status ReadPiece(uint32_t piece, std::string* out);
  // Reads `length` bytes at offset `begin` of piece `piece` into out[0..length) (a block a
  // peer requested, or a whole piece to check). The range must lie inside the piece.
  absl::Status ReadBlock(uint32_t piece, uint32_t begin, uint32_t length, char* out);
  // fdatasync on every file of the torrent, whoever wrote it: the coordinator calls this at
  // completion for data its workers wrote through their own descriptors.
  absl::Status Sync();

  const bt::Metainfo& metainfo() const { return metainfo_; }
  // Whether any file held bytes when it was opened. kCreate: false when every file was
  // created now or found empty, so there is nothing on disk a check could find (a fresh
  // download leases at once). Other modes: true (the files exist; their bytes are unknown).
  bool found_existing_data() const { return found_existing_data_; }
  // Each file (torrent order) as Open found it, before it created, truncated or
  // preallocated anything: what a resume record is compared with. Padding files read as
  // absent.
  const std::vector<FileStamp>& found() const { return found_; }
  // Each file as it is now (a file that cannot be opened reads as absent). Only metadata:
  // no content byte is read.
  std::vector<FileStamp> StampNow() const;

 private:
  ContentFiles(const bt::Metainfo& m, int root_fd, size_t max_open, bool read_only, bool direct_io);
  // An open file; closed when the last user lets go, so evicting it from the cache never
  // pulls a descriptor from under a pwrite in another thread.
  // A file written since its last sync is synced before it is closed, so Sync() covers
  // files that were evicted from the cache too.
  struct Fd {
    Fd(int fd, int direct_fd) : fd(fd), direct_fd(direct_fd) {}
    ~Fd();
    const int fd;
    // The same file opened with O_DIRECT, or -1.
    const int direct_fd;
    std::atomic<bool> dirty{false};
  };
  // Returns file `index` open for reading and writing, opening it (and evicting another
  // from the cache) if needed.
  absl::StatusOr<std::shared_ptr<Fd>> FileFd(uint32_t index) ABSL_LOCKS_EXCLUDED(mu_);
  // Opens file `index` below root_fd_, one component at a time without following links;
  // creates folders and the file when `create`.
  absl::StatusOr<int> OpenPath(uint32_t index, bool create, int extra_flags = 0) const;
  // pwrite of a whole range, retrying short writes.
  absl::Status WriteAll(int fd, const char* data, uint64_t length, uint64_t offset,
                        uint32_t file_index) const;
  // Reads `length` bytes; bytes past the end of the file read as zeros.
  absl::Status ReadAll(int fd, char* out, uint64_t length, uint64_t offset,
                       uint32_t file_index) const;
  absl::Status CreateLayout(bool overwrite);

  const bt::Metainfo metainfo_;
  const bt::PieceLayout layout_;
  const bt::FileMap file_map_;
  const int root_fd_;
  const size_t max_open_;
  const bool read_only_;
  const bool direct_io_;
  // Both set once by Open, before anyone else sees the object.
  bool found_existing_data_ = true;
  std::vector<FileStamp> found_;

  absl::Mutex mu_;
  std::vector<std::shared_ptr<Fd>> fds_ ABSL_GUARDED_BY(mu_);
  size_t open_count_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_victim_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace swarm::storage

#endif  // SWARM_STORAGE_CONTENT_FILES_H_
