#include "rpc/grpc_status.h"

#include "gtest/gtest.h"

namespace swarm::rpc {
namespace {

TEST(GrpcStatusTest, OkBothWays) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatusTest, KeepsCodeAndMessage) {
  grpc::Status g = ToGrpcStatus(absl::FailedPreconditionError("tracker said: go away"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(g.error_message(), "tracker said: go away");

  absl::Status a = FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "slow"));
  EXPECT_EQ(a.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(a.message(), "slow");
}

TEST(GrpcStatusTest, EveryCanonicalCodeRoundTrips) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status original(static_cast<absl::StatusCode>(code), "m");
    absl::Status back = FromGrpcStatus(ToGrpcStatus(original));
    EXPECT_EQ(back, original) << code;
  }
}

TEST(GrpcStatusTest, UnknownCodesBecomeUnknown) {
  // 31: no code gRPC defines, yet a value its enum can hold (it has no fixed underlying type,
  // so its values end at 31; a larger one would be undefined behaviour in the test itself).
  absl::Status a = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(31), "odd"));
  EXPECT_EQ(a.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(a.message(), "odd");
  grpc::Status g = ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(77), "odd"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::UNKNOWN);
}

}  // namespace
}  // namespace swarm::rpc
