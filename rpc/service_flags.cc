#include "rpc/service_flags.h"

#include "absl/flags/flag.h"
#include "rpc/token_source.h"

ABSL_FLAG(std::string, auth_token_file, "",
          "file (mode 0600) holding the token the cluster's processes share; else the "
          "SWARM_AUTH_TOKEN environment variable; never on the command line");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate of this process: its gRPC servers speak TLS only (needs --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert (mode 0600)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificate(s) to check the other processes by: connections to them use "
          "TLS, and clients' certificates are checked");
ABSL_FLAG(bool, tls_require_client_cert, false,
          "refuse clients without a certificate signed by --tls_ca");
ABSL_FLAG(std::string, tls_server_name, "",
          "name the servers' certificates carry, when not the host of the address dialled");

namespace swarm::rpc {

absl::StatusOr<ServiceSecurity> ServiceSecurityFromFlags() {
  ServiceSecurity security;
  absl::StatusOr<std::string> token = LoadAuthToken(absl::GetFlag(FLAGS_auth_token_file));
  if (!token.ok()) return token.status();
  security.auth_token = *std::move(token);
  TlsFiles files;
  files.cert = absl::GetFlag(FLAGS_tls_cert);
  files.key = absl::GetFlag(FLAGS_tls_key);
  files.ca = absl::GetFlag(FLAGS_tls_ca);
  files.require_client_cert = absl::GetFlag(FLAGS_tls_require_client_cert);
  files.server_name = absl::GetFlag(FLAGS_tls_server_name);
  absl::StatusOr<TlsConfig> tls = LoadTls(files);
  if (!tls.ok()) return tls.status();
  security.tls = *std::move(tls);
  return security;
}

}  // namespace swarm::rpc
