// The writer that `swarm-cli download --coordinator ADDR` starts beside the output folder: a
// peer_svc that takes no swarm peers (--max_peers=0) and only writes the pieces that workers
// which cannot see the folder stream to it (peer_svc's PieceSink). The CLI runs where the
// output folder is (-o is a path of its machine), so this is the one writer every such
// worker can count on; workers that see the folder (shared storage) write their own pieces
// and never use it. It stops with swarm-cli.
//
//   SWARM_ASSIGN_OR_RETURN(auto writer, StartOutputWriter(address, token, tls, verbose));
#ifndef SWARM_CLI_OUTPUT_WRITER_H_
#define SWARM_CLI_OUTPUT_WRITER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "process/subprocess.h"
#include "rpc/tls.h"

namespace swarm::cli {

// Returns once the writer has registered with the coordinator at `coordinator`.
// It talks TLS as `tls` says (the same files swarm-cli was given) and serves TLS with the
// certificate there.
absl::StatusOr<std::unique_ptr<process::Subprocess>> StartOutputWriter(
    const std::string& coordinator, const std::string& auth_token, const rpc::TlsFiles& tls,
    bool verbose);

}  // namespace swarm::cli

#endif  // SWARM_CLI_OUTPUT_WRITER_H_
