// Free loopback ports for daemons that cannot bind port 0 and report it (opentracker, seeders),
// and a wait for a TCP port to accept connections.
//
//   SWARM_ASSIGN_OR_RETURN(int port, swarm::process::PickUnusedPort(SOCK_STREAM));
//   StartDaemon(port);  // may lose a race for the port: retry with a new one on failure
//   SWARM_RETURN_IF_ERROR(swarm::process::WaitForTcpPort(port, absl::Now() + absl::Seconds(10)));
#ifndef SWARM_PROCESS_PORTS_H_
#define SWARM_PROCESS_PORTS_H_

#include <sys/socket.h>  // SOCK_STREAM, SOCK_DGRAM for callers

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace swarm::process {

// A port that was free on `ip` for `socket_type` (SOCK_STREAM or SOCK_DGRAM) a moment ago:
// bound to port 0, read back, closed.
absl::StatusOr<int> PickUnusedPort(int socket_type, const std::string& ip = "127.0.0.1");

// Connects to ip:port until a connection succeeds (then closes it) or `deadline` passes.
// Polls with short, growing pauses (1 ms up to 50 ms). `give_up`, when set and true, ends the
// wait early with FAILED_PRECONDITION (e.g. the daemon exited).
absl::Status WaitForTcpPort(int port, absl::Time deadline, const std::string& ip = "127.0.0.1",
                            const std::function<bool()>& give_up = nullptr);

}  // namespace swarm::process

#endif  // SWARM_PROCESS_PORTS_H_
