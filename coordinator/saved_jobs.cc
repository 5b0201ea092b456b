#include "coordinator/saved_jobs.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/state_file.h"

namespace swarm::coordinator {
namespace {

constexpr char kSuffix[] = ".job";
// A job is its .torrent and a few fields; SubmitJob takes no more than gRPC's message cap.
constexpr size_t kMaxJobBytes = 80u << 20;

std::string JobPath(const std::string& state_dir, const std::string& id) {
  return absl::StrCat(state_dir, "/", id, kSuffix);
}

}  // namespace

absl::Status SaveJob(const std::string& state_dir, const std::string& id,
                     pb::SubmitJobRequest request) {
  request.set_recheck(false);
  request.set_overwrite(false);
  return WriteStateFile(JobPath(state_dir, id), request.SerializeAsString());
}

std::vector<SavedJob> LoadSavedJobs(const std::string& state_dir) {
  std::vector<SavedJob> jobs;
  DIR* dir = opendir(state_dir.c_str());
  if (dir == nullptr) return jobs;
  while (const dirent* e = readdir(dir)) {
    if (!absl::EndsWith(e->d_name, kSuffix)) continue;
    SavedJob job;
    job.path = absl::StrCat(state_dir, "/", e->d_name);
    jobs.push_back(std::move(job));
  }
  closedir(dir);
  std::sort(jobs.begin(), jobs.end(),
            [](const SavedJob& a, const SavedJob& b) { return a.path < b.path; });
  for (SavedJob& job : jobs) {
    absl::StatusOr<std::string> bytes = ReadStateFile(job.path, kMaxJobBytes);
    if (!bytes.ok()) {
      job.error = bytes.status();
    } else if (!job.request.ParseFromString(*bytes) || job.request.torrent().empty()) {
      job.request.Clear();
      job.error = absl::DataLossError(absl::StrCat(job.path, " is not a saved job"));
    }
  }
  return jobs;
}

void ForgetJob(const std::string& state_dir, const std::string& id) {
  unlink(JobPath(state_dir, id).c_str());
}

}  // namespace swarm::coordinator
