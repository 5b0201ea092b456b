#include "peer_svc/piece_writer.h"

#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "peer_svc/piece_buffer.h"

namespace swarm::peer_svc {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAreArray;

// Only ever a bound on a wait that should end at once: generous for a loaded machine.
constexpr absl::Duration kWait = absl::Seconds(60);
constexpr size_t kBufferSize = 256;

// A sink that records what it stores (and on which thread), can hold the write of one piece
// until the test opens its gate, and fails the pieces it is told to.
class FakeDisk {
 public:
  PieceWriter::Sink sink() {
    return [this](uint32_t piece, std::string_view bytes) {
      if (hold_ && piece == *hold_) {
        writing_.Notify();
        gate_.WaitForNotification();
      }
      absl::MutexLock lock(&mu_);
      written_.emplace_back(piece, std::string(bytes));
      threads_.insert(std::this_thread::get_id());
      if (fail_.count(piece) != 0) return absl::DataLossError("disk on fire");
      return absl::OkStatus();
    };
  }
  // A `done` for `piece` that records the status it is given.
  PieceWriter::Done done(uint32_t piece) {
    return [this, piece](const absl::Status& s) {
      absl::MutexLock lock(&mu_);
      results_.emplace(piece, s);
      threads_.insert(std::this_thread::get_id());
    };
  }

  // Holds the write of `piece` until Open(); set before the piece is written.
  void Hold(uint32_t piece) { hold_ = piece; }
  bool WaitUntilWriting() { return writing_.WaitForNotificationWithTimeout(kWait); }
  // Idempotent: also the tests' cleanup, so that a failed test does not hang in ~PieceWriter.
  void Open() {
    if (!gate_.HasBeenNotified()) gate_.Notify();
  }
  void Fail(uint32_t piece) { fail_.insert(piece); }

  absl::Mutex mu_;
  std::vector<std::pair<uint32_t, std::string>> written_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, absl::Status> results_ ABSL_GUARDED_BY(mu_);
  std::set<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);

 private:
  // Set before the writer sees any piece: read without a lock.
  std::optional<uint32_t> hold_;
  std::set<uint32_t> fail_;
  absl::Notification writing_;
  absl::Notification gate_;
};

class PieceWriterTest : public ::testing::Test {
 protected:
  // A piece of `size` bytes, each `piece`, in a buffer from the pool.
  PieceBuffer Piece(uint32_t piece, size_t size) {
    PieceBuffer b(pool_.TryGet(), size);
    std::memset(b.data(), 'a' + static_cast<int>(piece), size);
    return b;
  }
  static std::string Bytes(uint32_t piece, size_t size) {
    return std::string(size, static_cast<char>('a' + piece));
  }
  // Options with a queue bound, and a notification when a Write starts waiting.
  PieceWriter::Options Capped(size_t max_queue_bytes) {
    PieceWriter::Options o;
    o.max_queue_bytes = max_queue_bytes;
    // Calls come one at a time, under the writer's lock.
    o.on_wait = [this] {
      if (!waiting_.HasBeenNotified()) waiting_.Notify();
    };
    return o;
  }

  // Writes piece 0 (60 bytes), held in the disk, and queues piece 1 (30 bytes): with a cap
  // of 100, a third piece of 30 must wait.
  void FillTo90Of100(PieceWriter& writer) {
    disk_.Hold(0);
    ASSERT_TRUE(writer.Write(0, Piece(0, 60), disk_.done(0)));
    ASSERT_TRUE(disk_.WaitUntilWriting());
    // Piece 0 counts while it is written: 60 + 30 fit under 100.
    ASSERT_TRUE(writer.Write(1, Piece(1, 30), disk_.done(1)));
    EXPECT_FALSE(waiting_.HasBeenNotified());
  }

  BufferPool pool_{kBufferSize};
  FakeDisk disk_;
  absl::Notification waiting_;
};

TEST_F(PieceWriterTest, WritesInOrderReportsAndGivesTheBuffersBack) {
  std::set<char*> buffers;
  {
    PieceWriter writer(PieceWriter::Options(), disk_.sink(), &pool_);
    // All three taken from the pool first: a buffer the writer already gave back would
    // otherwise be handed out again, and fewer than three would be in play.
    std::vector<PieceBuffer> pieces;
    for (uint32_t p = 0; p < 3; ++p) {
      pieces.push_back(Piece(p, 100 + p));
      buffers.insert(pieces.back().data());
    }
    ASSERT_EQ(buffers.size(), 3u);
    for (uint32_t p = 0; p < 3; ++p) {
      EXPECT_TRUE(writer.Write(p, std::move(pieces[p]), disk_.done(p)));
    }
    writer.Stop();
    writer.Stop();  // idempotent
  }
  {
    absl::MutexLock lock(&disk_.mu_);
    EXPECT_THAT(disk_.written_, ElementsAre(Pair(0, Bytes(0, 100)), Pair(1, Bytes(1, 101)),
                                            Pair(2, Bytes(2, 102))));
    EXPECT_THAT(disk_.results_, ElementsAre(Pair(0, absl::OkStatus()), Pair(1, absl::OkStatus()),
                                            Pair(2, absl::OkStatus())));
    // One thread of its own writes and reports.
    EXPECT_EQ(disk_.threads_.size(), 1u);
    EXPECT_EQ(disk_.threads_.count(std::this_thread::get_id()), 0u);
  }
  std::vector<char*> back;
  for (int i = 0; i < 3; ++i) back.push_back(pool_.TryGet().release());
  EXPECT_THAT(back, UnorderedElementsAreArray(buffers)) << "every buffer is back in the pool";
  for (char* b : back) pool_.Put(PieceBytes(b));
}

// With several threads (a sink that waits on a round trip), a piece held in one write does
// not hold up the next: another thread stores it meanwhile.
TEST_F(PieceWriterTest, SeveralThreadsStoreAPieceWhileAnotherIsHeld) {
  PieceWriter::Options options;
  options.threads = 2;
  PieceWriter writer(options, disk_.sink(), &pool_);
  disk_.Hold(0);
  ASSERT_TRUE(writer.Write(0, Piece(0, 10), disk_.done(0)));
  ASSERT_TRUE(disk_.WaitUntilWriting());
  absl::Notification second;
  ASSERT_TRUE(writer.Write(1, Piece(1, 10), [&](const absl::Status& s) {
    disk_.done(1)(s);
    second.Notify();
  }));
  EXPECT_TRUE(second.WaitForNotificationWithTimeout(kWait)) << "piece 1 waited for piece 0";
  disk_.Open();
  writer.Stop();
  absl::MutexLock lock(&disk_.mu_);
  EXPECT_THAT(disk_.results_, ElementsAre(Pair(0, absl::OkStatus()), Pair(1, absl::OkStatus())));
}

TEST_F(PieceWriterTest, BackPressureBlocksAWriteBeyondTheCapUntilTheDiskCatchesUp) {
  PieceWriter writer(Capped(100), disk_.sink(), &pool_);
  absl::Cleanup open_gate = [this] { disk_.Open(); };
  ASSERT_NO_FATAL_FAILURE(FillTo90Of100(writer));
  // 60 + 30 + 30 do not fit: the connection waits.
  absl::Notification queued;
  bool accepted = false;
  std::thread connection([&] {
    accepted = writer.Write(2, Piece(2, 30), disk_.done(2));
    queued.Notify();
  });
  ASSERT_TRUE(waiting_.WaitForNotificationWithTimeout(kWait));
  // Waiting, and held there: no room can appear while piece 0 is being written.
  EXPECT_FALSE(queued.HasBeenNotified());
  disk_.Open();
  EXPECT_TRUE(queued.WaitForNotificationWithTimeout(kWait));
  connection.join();
  EXPECT_TRUE(accepted);
  writer.Stop();
  absl::MutexLock lock(&disk_.mu_);
  EXPECT_THAT(disk_.written_,
              ElementsAre(Pair(0, Bytes(0, 60)), Pair(1, Bytes(1, 30)), Pair(2, Bytes(2, 30))));
  EXPECT_EQ(disk_.results_.size(), 3u);
}

TEST_F(PieceWriterTest, APieceLargerThanTheCapStillGoesThrough) {
  PieceWriter writer(Capped(10), disk_.sink(), &pool_);
  absl::Cleanup open_gate = [this] { disk_.Open(); };
  disk_.Hold(0);
  // An empty queue takes any piece.
  ASSERT_TRUE(writer.Write(0, Piece(0, 200), disk_.done(0)));
  ASSERT_TRUE(disk_.WaitUntilWriting());
  EXPECT_FALSE(waiting_.HasBeenNotified());
  // The next one waits until the first is written, and then goes through too.
  bool accepted = false;
  std::thread connection([&] { accepted = writer.Write(1, Piece(1, 200), disk_.done(1)); });
  ASSERT_TRUE(waiting_.WaitForNotificationWithTimeout(kWait));
  disk_.Open();
  connection.join();
  EXPECT_TRUE(accepted);
  writer.Stop();
  absl::MutexLock lock(&disk_.mu_);
  EXPECT_THAT(disk_.written_, ElementsAre(Pair(0, Bytes(0, 200)), Pair(1, Bytes(1, 200))));
  EXPECT_THAT(disk_.results_, ElementsAre(Pair(0, absl::OkStatus()), Pair(1, absl::OkStatus())));
}

TEST_F(PieceWriterTest, StopWritesWhatWasQueuedAndRefusesTheRest) {
  PieceWriter writer(Capped(100), disk_.sink(), &pool_);
  absl::Cleanup open_gate = [this] { disk_.Open(); };
  ASSERT_NO_FATAL_FAILURE(FillTo90Of100(writer));
  // A connection waiting for room when the job stops is let go, its piece not written.
  absl::Notification refused;
  std::thread connection([&] {
    EXPECT_FALSE(writer.Write(2, Piece(2, 30), disk_.done(2)));
    refused.Notify();
  });
  ASSERT_TRUE(waiting_.WaitForNotificationWithTimeout(kWait));
  std::thread stopper([&] { writer.Stop(); });
  // Refused while piece 0 is still being written: the stop was seen with piece 1 queued.
  ASSERT_TRUE(refused.WaitForNotificationWithTimeout(kWait));
  connection.join();
  disk_.Open();
  stopper.join();
  {
    absl::MutexLock lock(&disk_.mu_);
    EXPECT_THAT(disk_.written_, ElementsAre(Pair(0, Bytes(0, 60)), Pair(1, Bytes(1, 30))));
    EXPECT_THAT(disk_.results_, ElementsAre(Pair(0, absl::OkStatus()), Pair(1, absl::OkStatus())));
  }
  // After Stop: refused at once, the buffer back in the pool.
  PieceBuffer late = Piece(3, 10);
  char* const late_buffer = late.data();
  EXPECT_FALSE(writer.Write(3, std::move(late), disk_.done(3)));
  PieceBytes again = pool_.TryGet();
  EXPECT_EQ(again.get(), late_buffer);
  absl::MutexLock lock(&disk_.mu_);
  EXPECT_EQ(disk_.results_.count(3), 0u);
}

TEST_F(PieceWriterTest, AWriteErrorIsReportedAndTheNextPiecesWritten) {
  disk_.Fail(1);
  PieceWriter writer(PieceWriter::Options(), disk_.sink(), &pool_);
  for (uint32_t p = 0; p < 3; ++p) ASSERT_TRUE(writer.Write(p, Piece(p, 50), disk_.done(p)));
  writer.Stop();
  absl::MutexLock lock(&disk_.mu_);
  ASSERT_EQ(disk_.results_.size(), 3u);
  EXPECT_TRUE(disk_.results_[0].ok());
  EXPECT_TRUE(absl::IsDataLoss(disk_.results_[1])) << disk_.results_[1];
  EXPECT_EQ(disk_.results_[1].message(), "disk on fire");
  EXPECT_TRUE(disk_.results_[2].ok());
}

TEST_F(PieceWriterTest, DestructorWritesTheQueueJoinsAndLetsGoOfItsCallbacks) {
  // Held by the sink and every `done`: only the caller's copy is left once the writer is
  // gone, with its thread (an unjoined std::thread would have aborted the test).
  auto token = std::make_shared<int>(0);
  {
    PieceWriter writer(
        PieceWriter::Options(),
        [token, sink = disk_.sink()](uint32_t piece, std::string_view bytes) {
          return sink(piece, bytes);
        },
        nullptr);
    for (uint32_t p = 0; p < 4; ++p) {
      ASSERT_TRUE(writer.Write(p, Piece(p, 20),
                               [token, done = disk_.done(p)](const absl::Status& s) { done(s); }));
    }
  }
  EXPECT_EQ(token.use_count(), 1);
  absl::MutexLock lock(&disk_.mu_);
  EXPECT_EQ(disk_.written_.size(), 4u);
  EXPECT_EQ(disk_.results_.size(), 4u);
}

TEST_F(PieceWriterTest, StopWithNothingQueued) {
  PieceWriter writer(PieceWriter::Options(), disk_.sink(), &pool_);
  writer.Stop();
  EXPECT_FALSE(writer.Write(0, Piece(0, 10), disk_.done(0)));
  absl::MutexLock lock(&disk_.mu_);
  EXPECT_TRUE(disk_.written_.empty());
  EXPECT_TRUE(disk_.results_.empty());
}

}  // namespace
}  // namespace swarm::peer_svc
