#include "cli/binaries.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace swarm::cli {
namespace {

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

std::string SelfDir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

}  // namespace

absl::StatusOr<std::string> FindServiceBinary(const std::string& name) {
  std::vector<std::string> candidates;
  if (const char* dir = std::getenv("SWARM_BIN_DIR"); dir && *dir) {
    candidates.push_back(absl::StrCat(dir, "/", name));
  }
  const std::string self = SelfDir();
  candidates.push_back(absl::StrCat(self, "/../", name, "/", name));
  candidates.push_back(absl::StrCat(self, "/", name));
  if (const char* path = std::getenv("PATH")) {
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      candidates.push_back(absl::StrCat(dir, "/", name));
    }
  }
  for (const std::string& c : candidates) {
    if (IsExecutable(c)) return c;
  }
  return absl::NotFoundError(absl::StrCat("cannot find the ", name,
                                          " binary (build it with bazel build //...:all, or "
                                          "set SWARM_BIN_DIR)"));
}

}  // namespace swarm::cli
