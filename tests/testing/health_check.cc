#include "tests/testing/health_check.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "rpc/grpc_status.h"

namespace swarm::testing {

absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service, absl::Duration timeout) {
  if (service.size() > 127) return absl::InvalidArgumentError("service name too long");
  // HealthCheckRequest { string service = 1; }: tag 0x0a, one-byte length, bytes.
  std::string request;
  if (!service.empty()) {
    request = absl::StrCat("\x0a", std::string(1, static_cast<char>(service.size())), service);
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();  // the call's deadline bounds this
  if (!status.ok()) return rpc::FromGrpcStatus(status);

  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return absl::InternalError("cannot read response");
  std::string response;
  for (const grpc::Slice& s : slices) {
    response.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  // HealthCheckResponse { ServingStatus status = 1; }: empty (0), or tag 0x08 and a varint.
  if (response.empty()) return HealthStatus::kUnknown;
  if (response.size() != 2 || response[0] != 0x08 || response[1] < 0 || response[1] > 3) {
    return absl::InternalError("unexpected health check response");
  }
  return static_cast<HealthStatus>(response[1]);
}

}  // namespace swarm::testing
