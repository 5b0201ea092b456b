// Child processes for swarm-cli's embedded cluster and for tests that start real daemons:
// spawn with arguments, read the line a server prints once it listens, stop politely then
// firmly. Children die with their parent (PR_SET_PDEATHSIG) so nothing is left running when
// the parent is killed.
//
//   SWARM_ASSIGN_OR_RETURN(auto child, Subprocess::Start({"/usr/bin/opentracker", "-p", "0"}));
//   SWARM_ASSIGN_OR_RETURN(std::string line,
//                          child->ReadLineMatching("listening on", absl::Seconds(10)));
//   child->Stop(absl::Seconds(5));  // SIGTERM, then SIGKILL after 5 s
#ifndef SWARM_PROCESS_SUBPROCESS_H_
#define SWARM_PROCESS_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace swarm::process {

struct SubprocessOptions {
  // Capture the child's stdout through a pipe for ReadLineMatching; otherwise it inherits ours.
  bool capture_stdout = true;
  // Without capture: send the child's stdout to /dev/null (otherwise it inherits ours).
  bool quiet_stdout = false;
  // Send the child's stderr to /dev/null (otherwise it inherits ours).
  bool quiet_stderr = false;
  // Send the child's stderr where its stdout goes (to read both through ReadLineMatching).
  bool stderr_to_stdout = false;
  // Put the child in its own process group, so a Ctrl+C at the terminal reaches only us and
  // we decide how to stop it.
  bool own_process_group = true;
  // Working directory for the child (empty: ours).
  std::string cwd;
  // Variables set in the child's environment (replacing ours of the same name); the rest of
  // ours is inherited. Secrets go here, never into argv, which every local user can read.
  std::vector<std::pair<std::string, std::string>> env;
};

class Subprocess {
 public:
  // argv[0] is the program path (searched in PATH when it has no '/').
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv,
                                                           const SubprocessOptions& options = {});
  ~Subprocess();  // Stop(absl::Seconds(5))

  // Reads stdout lines until one contains `needle` and returns it; fails when the child
  // exits or closes stdout first, or at the deadline.
  absl::StatusOr<std::string> ReadLineMatching(const std::string& needle, absl::Duration timeout);
  // Everything read from stdout so far (for error messages).
  const std::string& output() const { return output_; }
  // From now on, reads and discards the child's stdout in a background thread, so a chatty
  // child can never block on a full pipe. ReadLineMatching must not be called afterwards.
  void DrainStdout();

  // Sends `signal`; no-op if the child has been reaped.
  void Signal(int signal);
  // SIGTERM, then SIGKILL if it has not exited after `grace`; returns the exit status as
  // waitpid gives it (or -1 when it was already reaped).
  int Stop(absl::Duration grace);
  // Waits for exit up to `timeout`; returns the wait status, or nullopt at the timeout.
  std::optional<int> Wait(absl::Duration timeout);
  bool running();
  pid_t pid() const { return pid_; }

 private:
  Subprocess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  pid_t pid_;
  int stdout_fd_;
  bool reaped_ = false;
  int status_ = -1;
  std::string output_;
  size_t consumed_ = 0;
  std::thread drainer_;
};

}  // namespace swarm::process

#endif  // SWARM_PROCESS_SUBPROCESS_H_
