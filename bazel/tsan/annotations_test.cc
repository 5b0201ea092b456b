// Under --config=tsan: data guarded by abseil's Mutex (Lock, LockWhen, Await with a
// condition evaluated in another thread), CondVar and Notification is handed between threads
// without a report (TSan fails the test at exit when it reports anything). Elsewhere it just
// runs.
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace {

TEST(TsanAnnotationsTest, MutexGuardedDataIsNoRace) {
  absl::Mutex mu;
  int value = 0;  // guarded by mu
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        absl::MutexLock lock(&mu);
        ++value;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(value, 4000);
}

TEST(TsanAnnotationsTest, AwaitAndLockWhenSeeWhatTheOtherThreadWrote) {
  absl::Mutex mu;
  int stage = 0;          // guarded by mu
  std::vector<int> data;  // guarded by mu
  std::thread producer([&] {
    for (int i = 1; i <= 100; ++i) {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(
          +[](int* s) { return *s % 2 == 0; }, &stage));
      data.push_back(i);
      ++stage;
    }
  });
  for (int i = 1; i <= 100; ++i) {
    mu.LockWhen(absl::Condition(
        +[](int* s) { return *s % 2 == 1; }, &stage));
    EXPECT_EQ(data.back(), i);
    ++stage;
    mu.Unlock();
  }
  producer.join();
}

TEST(TsanAnnotationsTest, CondVarAndNotificationHandOver) {
  absl::Mutex mu;
  absl::CondVar cv;
  bool ready = false;  // guarded by mu
  int payload = 0;
  std::thread t([&] {
    payload = 42;
    absl::MutexLock lock(&mu);
    ready = true;
    cv.Signal();
  });
  {
    absl::MutexLock lock(&mu);
    while (!ready) cv.Wait(&mu);
  }
  EXPECT_EQ(payload, 42);
  t.join();

  absl::Notification done;
  int result = 0;
  std::thread u([&] {
    result = 7;
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_EQ(result, 7);
  u.join();
}

}  // namespace
