// Reading the files a process's credentials live in (a token, a TLS key, certificates),
// without ever hanging on a FIFO planted at the path or reading a huge file, and refusing a
// secret that others may read.
#ifndef SWARM_RPC_CREDENTIAL_FILE_H_
#define SWARM_RPC_CREDENTIAL_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace swarm::rpc {

enum class Secrecy {
  kPublic,   // a certificate: anyone may read it
  kPrivate,  // a token or a private key: neither group nor others may read or write it
};

// The whole of `path`, a regular file of at most `max_bytes`. Errors name the file as
// `what` ("auth token file", "TLS key") and say how to fix it.
absl::StatusOr<std::string> ReadCredentialFile(const std::string& path, absl::string_view what,
                                               Secrecy secrecy, size_t max_bytes);

}  // namespace swarm::rpc

#endif  // SWARM_RPC_CREDENTIAL_FILE_H_
