// A job's resume record: which pieces were verified, and what each of its files looked like
// (size, modification time) when that was true. The coordinator keeps one per job in its
// state folder, so that a job started again trusts what it verified before instead of
// re-reading the data, wherever the files still look exactly the same (resume_plan.h).
//
// On disk it is a bencoded dictionary (the format libtorrent's resume files use too):
//   d 5:files l l i<exists>e i<size>e i<mtime ns>e e ... e
//     6:format 14:swarm resume 1   9:info-hash 20:<raw>   10:output dir <len>:<path>
//     11:piece count i<n>e   6:pieces <bitfield, BEP 3 order> e
// Written whole to a temporary file, synced, then renamed over the old one, so a reader
// finds the old record or the new one, never half of one.
//
//   SWARM_RETURN_IF_ERROR(SaveResumeRecord(path, record));
//   absl::StatusOr<ResumeRecord> r = LoadResumeRecord(path);  // NotFound, DataLoss, or a record
#ifndef SWARM_COORDINATOR_RESUME_RECORD_H_
#define SWARM_COORDINATOR_RESUME_RECORD_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bt/bitfield.h"
#include "storage/content_files.h"

namespace swarm::coordinator {

struct ResumeRecord {
  // The torrent's 20-byte info-hash.
  std::string info_hash;
  // The folder the content was in (a record says nothing about a copy elsewhere).
  std::string output_dir;
  bt::Bitfield verified;
  // Each file of the torrent, in torrent order, when the record was made.
  std::vector<storage::FileStamp> files;
};

std::string EncodeResumeRecord(const ResumeRecord& record);
// DATA_LOSS, naming what is wrong, for anything that is not a whole, consistent record.
absl::StatusOr<ResumeRecord> DecodeResumeRecord(std::string_view bytes);

// NOT_FOUND when there is no record at `path`; DATA_LOSS when it is unreadable or corrupt.
absl::StatusOr<ResumeRecord> LoadResumeRecord(const std::string& path);
// Replaces the record at `path` atomically (temporary file, fsync, rename, fsync of the
// folder). The file is readable by its owner only.
absl::Status SaveResumeRecord(const std::string& path, const ResumeRecord& record);

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_RESUME_RECORD_H_
