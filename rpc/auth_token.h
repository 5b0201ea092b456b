// The shared secret between a coordinator and its clients (swarm-cli, peer workers) on the
// unary and server-streaming RPCs: sent as call metadata, checked in constant time. Without
// it anyone who reaches the coordinator's port could submit a job that writes under any
// folder the coordinator can write to.
//
//   grpc::ClientContext ctx;
//   swarm::rpc::AttachAuthToken(token, &ctx);                     // client side; no-op if empty
//   if (!swarm::rpc::AuthTokenMatches(*server_ctx, token)) ...    // server side
#ifndef SWARM_RPC_AUTH_TOKEN_H_
#define SWARM_RPC_AUTH_TOKEN_H_

#include <string>

#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"

namespace swarm::rpc {

// gRPC metadata keys must be lower case.
inline constexpr char kAuthTokenMetadataKey[] = "swarm-auth-token";

// True when a and b are equal; the time taken does not depend on where they differ.
inline bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (size_t i = 0; i < longer.size(); ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

inline void AttachAuthToken(const std::string& token, grpc::ClientContext* context) {
  if (!token.empty()) context->AddMetadata(kAuthTokenMetadataKey, token);
}

// True when `token` is empty (no authentication configured) or the call carries it.
inline bool AuthTokenMatches(const grpc::ServerContext& context, const std::string& token) {
  if (token.empty()) return true;
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(kAuthTokenMetadataKey);
  if (it == metadata.end()) return false;
  return ConstantTimeEquals(std::string(it->second.data(), it->second.size()), token);
}

// What a call without the right token gets.
inline grpc::Status WrongAuthToken() {
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "missing or wrong auth token (swarm-auth-token metadata)");
}

}  // namespace swarm::rpc

#endif  // SWARM_RPC_AUTH_TOKEN_H_
