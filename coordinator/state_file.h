// Small files in the coordinator's state folder (resume records, saved jobs): written so that
// after a crash a name points at a whole file, old or new (temp file, fsync, rename, fsync of
// the folder), private to the coordinator's user (0600), never followed through a symlink.
//
//   SWARM_RETURN_IF_ERROR(WriteStateFile(dir + "/x.resume", bytes));
//   absl::StatusOr<std::string> bytes = ReadStateFile(dir + "/x.resume", 64 << 20);
#ifndef SWARM_COORDINATOR_STATE_FILE_H_
#define SWARM_COORDINATOR_STATE_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace swarm::coordinator {

absl::Status WriteStateFile(const std::string& path, absl::string_view bytes);

// NOT_FOUND when there is no such file; DATA_LOSS when it cannot be read or is larger than
// `max_bytes`.
absl::StatusOr<std::string> ReadStateFile(const std::string& path, size_t max_bytes);

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_STATE_FILE_H_
