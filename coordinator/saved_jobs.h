// The jobs a coordinator runs, saved in its state folder so that a coordinator that is killed
// and started again takes them up by itself: each job as the SubmitJobRequest that made it
// (torrent, output folder, mode), in <state_dir>/<job id>.job. Saved when the job is made,
// forgotten when it completes, fails or is cancelled by a user; a coordinator that shuts down
// keeps them. Where the job had got to is the resume record's business (resume_record.h).
//
//   SWARM_RETURN_IF_ERROR(SaveJob(state_dir, id, request));
//   for (const SavedJob& job : LoadSavedJobs(state_dir)) ... submit job.request ...
//   ForgetJob(state_dir, id);
#ifndef SWARM_COORDINATOR_SAVED_JOBS_H_
#define SWARM_COORDINATOR_SAVED_JOBS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/coordinator.pb.h"

namespace swarm::coordinator {

struct SavedJob {
  std::string path;
  // Empty request when the file could not be read or parsed; `error` says why.
  pb::SubmitJobRequest request;
  absl::Status error;
};

// Writes the request as it should be taken up again: without `recheck` (a restart trusts the
// resume record like any resume) and without `overwrite` (what it allowed was done at the
// first start; a file that grew since is someone else's).
absl::Status SaveJob(const std::string& state_dir, const std::string& id,
                     pb::SubmitJobRequest request);
// Every *.job file in the folder, in name order; a folder that does not exist has none.
std::vector<SavedJob> LoadSavedJobs(const std::string& state_dir);
// Removes the job's file; no error when there is none.
void ForgetJob(const std::string& state_dir, const std::string& id);

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_SAVED_JOBS_H_
