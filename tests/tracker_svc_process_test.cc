// The tracker_svc binary on its own: --listen with port 0 prints the port it bound, the health
// check answers, an announce through it reaches a real opentracker, and SIGTERM ends it cleanly.
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "process/opentracker.h"
#include "process/subprocess.h"
#include "proto/tracker.grpc.pb.h"
#include "tests/testing/health_check.h"

namespace {

namespace pb = ::swarm::pb;
const absl::Duration kTimeout = absl::Seconds(30);

std::string BinaryPath() {
  return absl::StrCat(std::getenv("TEST_SRCDIR"), "/", std::getenv("TEST_WORKSPACE"),
                      "/tracker_svc/tracker_svc");
}

TEST(TrackerSvcProcessTest, ServesAnnouncesAndStopsOnSigterm) {
  const std::string info_hash(20, '\x5a');
  auto tracker = swarm::process::Opentracker::Start({.info_hashes = {info_hash}});
  ASSERT_TRUE(tracker.ok()) << tracker.status();

  auto child = swarm::process::Subprocess::Start({BinaryPath(), "--listen=127.0.0.1:0"});
  ASSERT_TRUE(child.ok()) << child.status();
  auto line = (*child)->ReadLineMatching("listening on", kTimeout);
  ASSERT_TRUE(line.ok()) << line.status();
  const std::string prefix = "tracker_svc listening on 127.0.0.1:";
  ASSERT_EQ(line->rfind(prefix, 0), 0u) << *line;
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(line->substr(prefix.size()), &port)) << *line;
  ASSERT_GT(port, 0);

  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  auto health = swarm::testing::CheckHealth(channel, "", kTimeout);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, swarm::testing::HealthStatus::kServing);

  auto stub = pb::TrackerQuery::NewStub(channel);
  pb::AnnounceRequest req;
  req.set_info_hash(info_hash);
  req.set_peer_id("-SW0001-eeeeeeeeeeee");
  req.set_port(50005);
  req.set_event(pb::STARTED);
  req.add_tiers()->add_urls((*tracker)->udp_announce_url());
  pb::AnnounceResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::Status s = stub->Announce(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.tracker_url(), (*tracker)->udp_announce_url());

  (*child)->Signal(SIGTERM);
  std::optional<int> status = (*child)->Wait(kTimeout);
  ASSERT_TRUE(status.has_value()) << "still running after SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(TrackerSvcProcessTest, BadListenAddressExitsNonZero) {
  auto child = swarm::process::Subprocess::Start({BinaryPath(), "--listen=nonsense"},
                                                 {.capture_stdout = false, .quiet_stderr = true});
  ASSERT_TRUE(child.ok()) << child.status();
  std::optional<int> status = (*child)->Wait(kTimeout);
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_NE(WEXITSTATUS(*status), 0);
}

}  // namespace
