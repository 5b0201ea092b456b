#include "cli/progress_display.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/terminal_text.h"

namespace swarm::cli {
namespace {

std::string FormatEta(double seconds) {
  if (seconds < 0 || seconds > 360000) return "--:--";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

const char* StateName(pb::JobState s) {
  switch (s) {
    case pb::CHECKING:
      return "checking";
    case pb::DOWNLOADING:
      return "downloading";
    case pb::COMPLETE:
      return "complete";
    case pb::FAILED:
      return "failed";
    case pb::CANCELLED:
      return "cancelled";
    case pb::SEEDING:
      return "seeding";
    case pb::FETCHING_METADATA:
      return "fetching metadata";
    default: return "starting";
  }
}

}  // namespace

std::string FormatProgressLine(const pb::JobProgress& p, int bar_width) {
  if (p.state() == pb::SEEDING) {
    return absl::StrFormat("seeding  up %6.1f MB/s  uploaded %.1f MB  to %d peers  peers %d/%d  "
                           "workers %d",
                           p.upload_rate_bytes_per_s() / 1e6, p.uploaded_bytes() / 1e6,
                           p.upload_peers(), p.assigned_peers(), p.known_peers(), p.workers());
  }
  const double fraction =
      p.total_bytes() > 0 ? static_cast<double>(p.verified_bytes()) / p.total_bytes() : 0.0;
  std::string bar;
  if (bar_width > 0) {
    const int filled = static_cast<int>(fraction * bar_width);
    bar = absl::StrCat("[", std::string(filled, '#'), std::string(bar_width - filled, '.'), "] ");
  }
  std::string line =
      absl::StrFormat("%s%5.1f%%  %6.1f MB/s  peers %d/%d  workers %d  ETA %s  %s", bar,
                      fraction * 100, p.rate_bytes_per_s() / 1e6, p.assigned_peers(),
                      p.known_peers(), p.workers(), FormatEta(p.eta_s()), StateName(p.state()));
  // A job that goes on despite a problem (the tracker unreachable, say) says which; a failed
  // job's error is printed once, on its own line, by the caller.
  if (!p.error().empty() && p.state() != pb::FAILED) {
    constexpr size_t kMaxShown = 160;
    absl::StrAppend(&line, "  (", TerminalSafe(p.error().substr(0, kMaxShown)),
                    p.error().size() > kMaxShown ? "...)" : ")");
  }
  return line;
}

void ProgressDisplay::Update(const pb::JobProgress& p) {
  if (terminal_) {
    std::fprintf(stderr, "\r%s\033[K", FormatProgressLine(p, 30).c_str());
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  const absl::Time now = absl::Now();
  if (now - last_plain_ >= plain_interval_ || p.state() != last_state_) {
    std::fprintf(stderr, "%s\n", FormatProgressLine(p, 0).c_str());
    last_plain_ = now;
    last_state_ = p.state();
  }
}

void ProgressDisplay::Finish() {
  if (terminal_ && drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace swarm::cli
