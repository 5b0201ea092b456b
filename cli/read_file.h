// Reads a small file (a .torrent) whole, refusing ones over a size cap before reading them.
#ifndef SWARM_CLI_READ_FILE_H_
#define SWARM_CLI_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace swarm::cli {

absl::StatusOr<std::string> ReadFileCapped(const std::string& path, size_t max_bytes);

}  // namespace swarm::cli

#endif  // SWARM_CLI_READ_FILE_H_
