// `swarm-cli create PATH -t TRACKER_URL [-t ...] [--piece-length N] [--private]
//  [--comment TEXT] [-o FILE.torrent]`: makes a .torrent of a file or a folder, hashing the
// pieces on every core with a progress bar. Each -t is one tier; commas separate the URLs of
// a tier (as mktorrent's -a).
#ifndef SWARM_CLI_CREATE_H_
#define SWARM_CLI_CREATE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace swarm::cli {

struct CreateOptions {
  std::string path;  // the file or folder to share
  std::vector<std::vector<std::string>> trackers;
  uint32_t piece_length = 0;  // 0: bt::DefaultPieceLength
  bool is_private = false;
  std::string comment;
  int threads = 0;  // 0: one per core
  // Called from time to time with (bytes hashed, total bytes).
  std::function<void(uint64_t, uint64_t)> on_progress;
};

// The .torrent bytes for options.path.
absl::StatusOr<std::string> CreateTorrent(const CreateOptions& options);

int RunCreate(int argc, char** argv);

}  // namespace swarm::cli

#endif  // SWARM_CLI_CREATE_H_
