// Where a service or swarm-cli gets the cluster's auth token, and when it must have one.
//
// Never from the command line: any local user reads a process's arguments (`ps`,
// /proc/PID/cmdline). A process's environment (/proc/PID/environ) and a file of mode 0600
// are its owner's alone. So: the file named by --auth_token_file (swarm-cli:
// --auth-token-file), else the SWARM_AUTH_TOKEN environment variable, else none.
//
//   SWARM_ASSIGN_OR_RETURN(std::string token, rpc::LoadAuthToken(absl::GetFlag(FLAGS_file)));
//   SWARM_RETURN_IF_ERROR(rpc::RequireTokenBeyondLoopback("0.0.0.0:7000", token));
#ifndef SWARM_RPC_TOKEN_SOURCE_H_
#define SWARM_RPC_TOKEN_SOURCE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace swarm::rpc {

inline constexpr char kAuthTokenEnv[] = "SWARM_AUTH_TOKEN";

// The token in `path`: a regular file that neither group nor others may read or write,
// holding the token on its first line (trailing whitespace ignored; at most 4 KiB).
absl::StatusOr<std::string> ReadAuthTokenFile(const std::string& path);

// ReadAuthTokenFile(file) when `file` is not empty, else $SWARM_AUTH_TOKEN, else "" (no
// authentication).
absl::StatusOr<std::string> LoadAuthToken(const std::string& file);

// Whether `listen` ("host:port" or "[v6]:port") binds only to loopback (127.0.0.0/8, ::1,
// localhost).
bool ListensOnLoopbackOnly(const std::string& listen);

// A service that others can reach must check who calls it: an error naming the address and
// the ways to give a token, when `listen` goes beyond loopback and `token` is empty.
absl::Status RequireTokenBeyondLoopback(const std::string& listen, const std::string& token);

// A fresh random token (32 hex digits from the OS's random source), for the embedded cluster.
absl::StatusOr<std::string> MakeRandomToken();

}  // namespace swarm::rpc

#endif  // SWARM_RPC_TOKEN_SOURCE_H_
