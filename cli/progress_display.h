// Shows a job's progress: a one-line bar redrawn in place on a terminal, or a plain line
// every few seconds when stderr is a file or a pipe (CI logs, scripts).
//
//   ProgressDisplay display(isatty(STDERR_FILENO));
//   while (stream->Read(&progress)) display.Update(progress);
//   display.Finish();
#ifndef SWARM_CLI_PROGRESS_DISPLAY_H_
#define SWARM_CLI_PROGRESS_DISPLAY_H_

#include <string>

#include "absl/time/time.h"
#include "proto/coordinator.pb.h"

namespace swarm::cli {

// "[#########.........]  45.2%  120.3 MB/s  peers 2/3  workers 3  ETA 0:42"
std::string FormatProgressLine(const pb::JobProgress& p, int bar_width);

class ProgressDisplay {
 public:
  explicit ProgressDisplay(bool terminal, absl::Duration plain_interval = absl::Seconds(2))
      : terminal_(terminal), plain_interval_(plain_interval) {}
  void Update(const pb::JobProgress& progress);
  // Ends the bar's line (terminal) so later output starts on a fresh line.
  void Finish();

 private:
  const bool terminal_;
  const absl::Duration plain_interval_;
  absl::Time last_plain_ = absl::InfinitePast();
  pb::JobState last_state_ = pb::JOB_STATE_UNSPECIFIED;
  bool drawn_ = false;
};

}  // namespace swarm::cli

#endif  // SWARM_CLI_PROGRESS_DISPLAY_H_
