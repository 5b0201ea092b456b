#include "cli/output_writer.h"

#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/binaries.h"

namespace swarm::cli {

absl::StatusOr<std::unique_ptr<process::Subprocess>> StartOutputWriter(
    const std::string& coordinator, const std::string& auth_token, bool verbose) {
  SWARM_ASSIGN_OR_RETURN(std::string worker_bin, FindServiceBinary("peer_svc"));
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  std::vector<std::string> argv = {worker_bin, "--coordinator=" + coordinator, "--max_peers=0",
                                   absl::StrCat("--name=writer@", host)};
  if (!auth_token.empty()) argv.push_back("--auth_token=" + auth_token);
  process::SubprocessOptions options;
  options.quiet_stderr = !verbose;
  SWARM_ASSIGN_OR_RETURN(auto writer, process::Subprocess::Start(argv, options));
  absl::StatusOr<std::string> line =
      writer->ReadLineMatching("registered as worker", absl::Seconds(30));
  if (!line.ok()) {
    return absl::UnavailableError(absl::StrCat("it did not register: ", line.status().message()));
  }
  writer->DrainStdout();
  return writer;
}

}  // namespace swarm::cli
