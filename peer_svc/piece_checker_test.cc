#include "peer_svc/piece_checker.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::peer_svc {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Collects every report; waits for a number of results.
struct Reports {
  absl::Mutex mu;
  std::vector<uint32_t> verified, missing, differing;
  int batches = 0;
  void Add(PieceChecker::Results r) {
    absl::MutexLock lock(&mu);
    verified.insert(verified.end(), r.verified.begin(), r.verified.end());
    missing.insert(missing.end(), r.missing.begin(), r.missing.end());
    differing.insert(differing.end(), r.differing.begin(), r.differing.end());
    ++batches;
  }
  void WaitFor(size_t n) {
    absl::MutexLock lock(&mu);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return verified.size() + missing.size() + differing.size() >= n;
    };
    mu.Await(absl::Condition(&enough));
  }
};

TEST(PieceCheckerTest, ChecksEveryPieceAndReportsInBatches) {
  Reports reports;
  // Even pieces are on disk, 3 and 7 are someone else's.
  PieceChecker checker(
      [](uint32_t p, char*) {
        using OnDisk = PieceChecker::OnDisk;
        return p % 2 == 0 ? OnDisk::kMatches : p % 4 == 3 ? OnDisk::kOther : OnDisk::kAbsent;
      },
      [&](PieceChecker::Results r) { reports.Add(std::move(r)); },
      /*buffer_size=*/64, /*threads=*/2, /*batch=*/4);
  checker.Add({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  reports.WaitFor(10);
  checker.Stop();
  std::sort(reports.verified.begin(), reports.verified.end());  // two threads: any order
  std::sort(reports.missing.begin(), reports.missing.end());
  std::sort(reports.differing.begin(), reports.differing.end());
  EXPECT_THAT(reports.verified, ElementsAre(0, 2, 4, 6, 8));
  EXPECT_THAT(reports.missing, ElementsAre(1, 5, 9));
  EXPECT_THAT(reports.differing, ElementsAre(3, 7));
  EXPECT_GE(reports.batches, 3);  // two threads, at most 4 results a report
  EXPECT_EQ(checker.pending(), 0u);
}

TEST(PieceCheckerTest, StopDropsWhatIsQueuedAndReportsNothingAfter) {
  Reports reports;
  absl::Notification first_started, release;
  PieceChecker checker(
      [&](uint32_t p, char*) {
        if (p == 0) {
          first_started.Notify();
          release.WaitForNotification();
        }
        return PieceChecker::OnDisk::kMatches;
      },
      [&](PieceChecker::Results r) { reports.Add(std::move(r)); },
      /*buffer_size=*/64, /*threads=*/1, /*batch=*/1);
  checker.Add({0, 1, 2, 3});
  first_started.WaitForNotification();
  EXPECT_EQ(checker.pending(), 4u);
  std::thread stopper([&] { checker.Stop(); });
  // Stop has cleared the queue: only the piece being checked is left.
  while (checker.pending() > 1) std::this_thread::yield();
  release.Notify();
  stopper.join();
  const int batches_at_stop = reports.batches;
  EXPECT_LE(batches_at_stop, 1);  // at most the piece that was being checked
  checker.Add({7});               // refused after Stop
  EXPECT_EQ(checker.pending(), 0u);
  EXPECT_EQ(reports.batches, batches_at_stop);
}

TEST(PieceCheckerTest, NoThreadUntilThereIsWork) {
  PieceChecker checker([](uint32_t, char*) { return PieceChecker::OnDisk::kMatches; },
                       [](PieceChecker::Results) {}, 64);
  EXPECT_EQ(checker.pending(), 0u);
  checker.Stop();  // nothing to join
}

}  // namespace
}  // namespace swarm::peer_svc
