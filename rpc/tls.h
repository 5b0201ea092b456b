// TLS on the gRPC links between swarm's processes. A server with a certificate speaks only
// TLS; a client given the cluster's CA speaks TLS and checks that the server's certificate
// is signed by it, so a worker knows it talks to its coordinator and not to whatever answers
// at that address. Client certificates are optional, and required by a server told so.
// README.md, "TLS", has the openssl commands that make a CA and the certificates.
//
//   SWARM_ASSIGN_OR_RETURN(rpc::TlsConfig tls, rpc::LoadTls(files));
//   builder.AddListeningPort(listen, rpc::ServerCredentials(tls), &port);
//   auto channel = rpc::MakeChannel(address, tls);
#ifndef SWARM_RPC_TLS_H_
#define SWARM_RPC_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace swarm::rpc {

// Where a process's TLS material is (all PEM). Empty fields: not used.
struct TlsFiles {
  std::string cert;  // this process's certificate chain: served, and shown to servers that ask
  std::string key;   // its private key: mode 0600 at most, like a token file
  std::string ca;    // the certificates to trust: every server's issuer (and clients' issuer)
  // Servers: refuse clients without a certificate signed by `ca`.
  bool require_client_cert = false;
  // Clients: the name servers' certificates must carry, instead of the host in the address
  // dialled (one certificate for the cluster: "swarm" in every server's subjectAltName).
  std::string server_name;
};

// The same, read and checked.
struct TlsConfig {
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;
  bool require_client_cert = false;
  std::string server_name;

  bool serves_tls() const { return !cert_pem.empty(); }
  bool dials_tls() const { return !ca_pem.empty(); }
};

// Reads the files. Errors for a key that others may read, a certificate without its key (or
// the reverse), a demand for client certificates with no CA to check them, or a server name
// with no CA.
absl::StatusOr<TlsConfig> LoadTls(const TlsFiles& files);

// TLS when the config has a certificate, else plaintext.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsConfig& tls);

// A channel to `address`: TLS checked against the CA when the config has one (showing this
// process's certificate when it has one), else plaintext.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const TlsConfig& tls,
                                           grpc::ChannelArguments args = {});

}  // namespace swarm::rpc

#endif  // SWARM_RPC_TLS_H_
