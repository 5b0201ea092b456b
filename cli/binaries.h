// Finds the service binaries (tracker_svc, coordinator, peer_svc) that swarm-cli starts in
// its embedded mode: $SWARM_BIN_DIR, then beside swarm-cli as Bazel lays them out
// (bazel-bin/cli/swarm-cli next to bazel-bin/coordinator/coordinator), then in swarm-cli's
// own folder, then on PATH.
#ifndef SWARM_CLI_BINARIES_H_
#define SWARM_CLI_BINARIES_H_

#include <string>

#include "absl/status/statusor.h"

namespace swarm::cli {

// `name` is the binary's name, which is also its Bazel package ("coordinator").
absl::StatusOr<std::string> FindServiceBinary(const std::string& name);

}  // namespace swarm::cli

#endif  // SWARM_CLI_BINARIES_H_
