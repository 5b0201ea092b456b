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

TEST(ProgressDisplayTest, ShowsWhatHoldsTheJobBackEscaped) {
  pb::JobProgress p;
  p.set_state(pb::DOWNLOADING);
  p.set_eta_s(-1);
  p.set_error("announce failed: tracker said \x1b[2Jgo away");
  EXPECT_EQ(FormatProgressLine(p, 0),
            "  0.0%     0.0 MB/s  peers 0/0  workers 0  ETA --:--  downloading  (announce failed: "
            "tracker said ?[2Jgo away)");
  const std::string base = "  0.0%     0.0 MB/s  peers 0/0  workers 0  ETA --:--  downloading";
  p.set_error(std::string(300, 'e'));
  EXPECT_EQ(FormatProgressLine(p, 0), base + "  (" + std::string(160, 'e') + "...)");
  // A failed job's error has a line of its own.
  p.set_state(pb::FAILED);
  EXPECT_EQ(FormatProgressLine(p, 0).find("eee"), std::string::npos);
}

}  // namespace
}  // namespace swarm::cli
