#include "coordinator/output_root.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace swarm::coordinator {
namespace {

absl::StatusOr<std::string> Resolved(const std::string& path, const char* what) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot resolve ", what, " \"", path, "\": ", std::strerror(errno)));
  }
  return std::string(resolved);
}

}  // namespace

absl::Status CheckInsideOutputRoot(const std::string& root, const std::string& dir) {
  if (root.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> real_root = Resolved(root, "the output root");
  if (!real_root.ok()) return real_root.status();
  absl::StatusOr<std::string> real_dir = Resolved(dir, "output_dir");
  if (!real_dir.ok()) return real_dir.status();
  const std::string prefix = *real_root == "/" ? "/" : *real_root + "/";
  if (*real_dir == *real_root || absl::StartsWith(*real_dir, prefix)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("output_dir \"", dir,
                                                  "\" is outside this coordinator's output root \"",
                                                  root, "\" (--output_root)"));
}

}  // namespace swarm::coordinator
