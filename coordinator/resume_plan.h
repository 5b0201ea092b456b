// What a job starting on existing files does with each piece: trusts the resume record,
// has the workers check it, or fetches it. Pure: the files' stamps and the record are read by
// the caller.
//
// A file is trusted when a readable record for this torrent and output folder lists it with
// exactly the size and modification time it was found with (ContentFiles::found(), before the
// job touched it). Then, per piece:
//   - every file it lies in is trusted:              VERIFIED if the record says so, else
//                                                    NEEDED (nothing was written since);
//   - otherwise, one of its files holds data:         checked by the workers (verify leases);
//   - otherwise (its files were absent or empty):    NEEDED, nothing to check.
// With `recheck` (swarm-cli download --recheck) no file is trusted (and none becomes foreign).
//
// Why this is safe: a worker only ever writes pieces it holds a lease on, never a VERIFIED one
// (bar an endgame loser rewriting the same verified bytes), so the pieces a record lists stay
// valid while its files' stamps hold; anything else that changes a file changes its stamp.
//
//   ResumePlan plan = PlanResume(metainfo, "/data", files->found(), LoadResumeRecord(path), false);
//   for (p in plan.verified) ledger.MarkVerified(p);  checks.Add(plan.to_check);
#ifndef SWARM_COORDINATOR_RESUME_PLAN_H_
#define SWARM_COORDINATOR_RESUME_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bt/bitfield.h"
#include "bt/metainfo.h"
#include "coordinator/resume_record.h"
#include "storage/content_files.h"

namespace swarm::coordinator {

struct ResumePlan {
  // Verified, on the record's word.
  bt::Bitfield verified;
  // To be read and hashed by the workers.
  bt::Bitfield to_check;
  // Per file: found with data that no record of this download names as its own (no usable
  // record, or one from before the file existed). Someone else's file, as far as the job
  // knows: a check that finds other data than the torrent's in it stops the job, unless the
  // user asked to overwrite.
  std::vector<bool> foreign;
  // A usable record was found (whatever `recheck` says). Without one the job saves a first
  // record at once, naming the files it made, so that after a crash its own half-written
  // files are not taken for someone else's.
  bool had_record = false;
  // One line for the log: what was decided and why.
  std::string summary;
};

ResumePlan PlanResume(const bt::Metainfo& metainfo, const std::string& output_dir,
                      const std::vector<storage::FileStamp>& found,
                      const absl::StatusOr<ResumeRecord>& record, bool recheck);

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_RESUME_PLAN_H_
