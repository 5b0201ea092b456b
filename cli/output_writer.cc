#include "cli/output_writer.h"

#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/binaries.h"
#include "rpc/token_source.h"

namespace swarm::cli {

absl::StatusOr<std::unique_ptr<process::Subprocess>> StartOutputWriter(
    const std::string& coordinator, const std::string& auth_token, const rpc::TlsFiles& tls,
    bool verbose) {
  SWARM_ASSIGN_OR_RETURN(std::string worker_bin, FindServiceBinary("peer_svc"));
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  std::vector<std::string> argv = {worker_bin, "--coordinator=" + coordinator, "--max_peers=0",
                                   absl::StrCat("--name=writer@", host)};
  // File names only: the key itself stays in its file.
  if (!tls.ca.empty()) argv.push_back("--tls_ca=" + tls.ca);
  if (!tls.cert.empty()) argv.push_back("--tls_cert=" + tls.cert);
  if (!tls.key.empty()) argv.push_back("--tls_key=" + tls.key);
  if (!tls.server_name.empty()) argv.push_back("--tls_server_name=" + tls.server_name);
  process::SubprocessOptions options;
  options.quiet_stderr = !verbose;
  // In its environment, never on its command line (which every local user can read).
  if (!auth_token.empty()) options.env = {{rpc::kAuthTokenEnv, auth_token}};
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
