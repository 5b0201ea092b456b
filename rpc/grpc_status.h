// The one place where absl::Status and grpc::Status are converted into each other. Services
// work in absl::Status and convert at the RPC boundary; clients convert what a stub returns.
//
//   grpc::Status Announce(grpc::ServerContext*, const Req* req, Resp* resp) override {
//     return swarm::rpc::ToGrpcStatus(DoAnnounce(*req, resp));
//   }
//   absl::Status s = swarm::rpc::FromGrpcStatus(stub->Announce(&ctx, req, &resp));
//
// The two libraries share canonical codes 0..16; messages are kept verbatim. Status payloads
// and grpc error details are not carried across.
#ifndef SWARM_RPC_GRPC_STATUS_H_
#define SWARM_RPC_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace swarm::rpc {

// An OK absl::Status becomes grpc::Status::OK; any other keeps its code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse; a code outside the canonical range becomes UNKNOWN.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace swarm::rpc

#endif  // SWARM_RPC_GRPC_STATUS_H_
