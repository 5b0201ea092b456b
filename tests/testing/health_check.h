// Asks a gRPC server's standard health service (grpc.health.v1.Health/Check) about a service.
// Debian ships no health.proto, and the two messages are one optional field each, so they are
// encoded by hand over a generic stub. For tests of every swarm server.
//
//   auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
//   absl::StatusOr<HealthStatus> s = CheckHealth(channel, "", absl::Seconds(5));
//   EXPECT_EQ(*s, HealthStatus::kServing);
#ifndef SWARM_TESTS_TESTING_HEALTH_CHECK_H_
#define SWARM_TESTS_TESTING_HEALTH_CHECK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace swarm::testing {

// grpc.health.v1.HealthCheckResponse.ServingStatus.
enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// The status of `service` ("" = the whole server). RPC failures (unreachable server, NOT_FOUND
// for a service the server does not know) come back as errors.
absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service, absl::Duration timeout);

}  // namespace swarm::testing

#endif  // SWARM_TESTS_TESTING_HEALTH_CHECK_H_
