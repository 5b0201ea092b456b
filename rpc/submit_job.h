// The client side of the coordinator's SubmitJob, which takes its request in parts: no
// server of ours accepts a message over gRPC's 4 MiB default, a .torrent may be up to
// 64 MiB, and the coordinator checks the caller's token before it reads a single part.
//
//   grpc::ClientContext context;
//   rpc::AttachAuthToken(token, &context);
//   grpc::Status s = rpc::SubmitJob(*stub, &context, request, &response);
#ifndef SWARM_RPC_SUBMIT_JOB_H_
#define SWARM_RPC_SUBMIT_JOB_H_

#include <cstddef>

#include "grpcpp/client_context.h"
#include "proto/coordinator.grpc.pb.h"

namespace swarm::rpc {

// Torrent bytes per part: well under the 4 MiB message limit.
inline constexpr size_t kSubmitJobPartBytes = size_t{1} << 20;

// Sends `request` as parts: the first carries every field and the torrent's first
// kSubmitJobPartBytes bytes, each later one only the torrent's next bytes.
grpc::Status SubmitJob(pb::Coordinator::StubInterface& stub, grpc::ClientContext* context,
                       const pb::SubmitJobRequest& request, pb::SubmitJobResponse* response);

}  // namespace swarm::rpc

#endif  // SWARM_RPC_SUBMIT_JOB_H_
