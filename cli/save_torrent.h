// The .torrent a coordinator runs a job from (a magnet link's, once its metadata is in),
// fetched in parts with FetchTorrent and written to a file.
//
//   SWARM_RETURN_IF_ERROR(SaveTorrent(*stub, token, job_id, "out.torrent"));
#ifndef SWARM_CLI_SAVE_TORRENT_H_
#define SWARM_CLI_SAVE_TORRENT_H_

#include <string>

#include "absl/status/status.h"
#include "proto/coordinator.grpc.pb.h"

namespace swarm::cli {

// Written to a temporary file beside `path`, then renamed over it: a reader finds the whole
// .torrent or none.
absl::Status SaveTorrent(pb::Coordinator::StubInterface& stub, const std::string& token,
                         const std::string& job_id, const std::string& path);

}  // namespace swarm::cli

#endif  // SWARM_CLI_SAVE_TORRENT_H_
