// The coordinator's --output_root: the one folder tree that jobs may write into. Whoever
// holds the token can submit a job, and a job creates files (and, with overwrite, cuts
// them down) wherever its output_dir points; the root bounds that to what the operator chose.
//
//   SWARM_RETURN_IF_ERROR(CheckInsideOutputRoot("/srv/swarm", request.output_dir()));
#ifndef SWARM_COORDINATOR_OUTPUT_ROOT_H_
#define SWARM_COORDINATOR_OUTPUT_ROOT_H_

#include <string>

#include "absl/status/status.h"

namespace swarm::coordinator {

// OK when `root` is empty (no root: anywhere the coordinator's user may write), or when
// `dir`, with every symlink resolved, is `root` (resolved too) or lies below it. A `dir` that
// does not exist is an error either way.
absl::Status CheckInsideOutputRoot(const std::string& root, const std::string& dir);

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_OUTPUT_ROOT_H_
