// The flags every service binary shares for who may call it and whom it trusts: the token
// and TLS. Defined once here; coordinator, tracker_svc and peer_svc link this in.
//
//   --auth_token_file=F          the shared token (else $SWARM_AUTH_TOKEN)
//   --tls_cert=F --tls_key=F     this process's certificate and key: its servers speak TLS
//   --tls_ca=F                   the CA to check others by: its clients speak TLS
//   --tls_require_client_cert    its servers refuse clients without a certificate
//   --tls_server_name=NAME       the name servers' certificates carry, if not their address
#ifndef SWARM_RPC_SERVICE_FLAGS_H_
#define SWARM_RPC_SERVICE_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "rpc/tls.h"

namespace swarm::rpc {

struct ServiceSecurity {
  std::string auth_token;  // empty: none
  TlsConfig tls;
};

// Reads the token and the TLS files the flags name.
absl::StatusOr<ServiceSecurity> ServiceSecurityFromFlags();

}  // namespace swarm::rpc

#endif  // SWARM_RPC_SERVICE_FLAGS_H_
