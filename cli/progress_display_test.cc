#include "cli/progress_display.h"

#include "gtest/gtest.h"

namespace swarm::cli {
namespace {

TEST(ProgressDisplayTest, FormatsBarRatePeersAndEta) {
  pb::JobProgress p;
  p.set_state(pb::DOWNLOADING);
  p.set_total_bytes(1000);
  p.set_verified_bytes(500);
  p.set_rate_bytes_per_s(12.5e6);
  p.set_assigned_peers(2);
  p.set_known_peers(3);
  p.set_workers(4);
  p.set_eta_s(75);
  EXPECT_EQ(FormatProgressLine(p, 10),
            "[#####.....]  50.0%    12.5 MB/s  peers 2/3  workers 4  ETA 1:15  downloading");
  p.set_eta_s(-1);
  p.set_total_bytes(0);
  EXPECT_EQ(FormatProgressLine(p, 0),
            "  0.0%    12.5 MB/s  peers 2/3  workers 4  ETA --:--  downloading");
}

}  // namespace
}  // namespace swarm::cli
