#include "rpc/tls.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "rpc/credential_file.h"

namespace swarm::rpc {
namespace {

constexpr size_t kMaxPemBytes = 1 << 20;

absl::Status ReadInto(const std::string& path, absl::string_view what, Secrecy secrecy,
                      std::string* out) {
  if (path.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> pem = ReadCredentialFile(path, what, secrecy, kMaxPemBytes);
  if (!pem.ok()) return pem.status();
  if (pem->find("-----BEGIN ") == std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat(what, " ", path, " is not PEM"));
  }
  *out = *std::move(pem);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TlsConfig> LoadTls(const TlsFiles& files) {
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(
        "a TLS certificate needs its key and a key its certificate (--tls_cert with --tls_key)");
  }
  if (files.require_client_cert && (files.ca.empty() || files.cert.empty())) {
    return absl::InvalidArgumentError(
        "requiring client certificates needs this server's own certificate and key, and the "
        "CA that signs the clients' (--tls_ca)");
  }
  if (!files.server_name.empty() && files.ca.empty()) {
    return absl::InvalidArgumentError("a TLS server name needs the CA to check it (--tls_ca)");
  }
  TlsConfig tls;
  tls.require_client_cert = files.require_client_cert;
  tls.server_name = files.server_name;
  absl::Status s = ReadInto(files.cert, "TLS certificate", Secrecy::kPublic, &tls.cert_pem);
  if (s.ok()) s = ReadInto(files.key, "TLS key", Secrecy::kPrivate, &tls.key_pem);
  if (s.ok()) s = ReadInto(files.ca, "TLS CA file", Secrecy::kPublic, &tls.ca_pem);
  if (!s.ok()) return s;
  return tls;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsConfig& tls) {
  if (!tls.serves_tls()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
      : tls.dials_tls()       ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                              : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_root_certs = tls.ca_pem;
  options.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const TlsConfig& tls,
                                           grpc::ChannelArguments args) {
  if (!tls.dials_tls()) {
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.ca_pem;
  options.pem_private_key = tls.key_pem;
  options.pem_cert_chain = tls.cert_pem;
  if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

}  // namespace swarm::rpc
