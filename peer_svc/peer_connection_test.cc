#include "peer_svc/peer_connection.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "peer_svc/piece_pool.h"
#include "peer_svc/testing/fake_seeder.h"
#include "peer_svc/testing/test_torrent.h"

namespace swarm::peer_svc {
namespace {

using ::swarm::peer_svc::testing::FakeSeeder;
using ::swarm::peer_svc::testing::MakeTestTorrent;
using ::swarm::peer_svc::testing::TestTorrent;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(30);

// A job of one connection: every piece leased, a PiecePool deciding, written pieces kept in
// memory. Hash failures give the piece back to be fetched again, as the coordinator would
// lease it again.
class TestJob : public PeerConnection::Delegate {
 public:
  explicit TestJob(const TestTorrent& t) : t_(t), pool_(t.metainfo.num_pieces()) {
    for (uint32_t p = 0; p < t.metainfo.num_pieces(); ++p) pool_.AddLease(p, absl::Now());
  }

  void OnPeerPieces(PeerConnection& c, const bt::Bitfield& have) override {
    absl::MutexLock lock(&mu_);
    pool_.SetPeerPieces(c.key(), have);
    ++bitfields_;
  }
  void OnPeerHave(PeerConnection& c, uint32_t piece) override {
    absl::MutexLock lock(&mu_);
    pool_.AddPeerPiece(c.key(), piece);
    ++haves_;
  }
  bool WantsFrom(PeerConnection& c) override {
    absl::MutexLock lock(&mu_);
    return pool_.Wants(c.key());
  }
  std::optional<uint32_t> PickPiece(PeerConnection& c) override {
    absl::MutexLock lock(&mu_);
    return pool_.Pick(c.key(), absl::Now());
  }
  void ReleasePiece(PeerConnection& c, uint32_t piece, bool refused) override {
    absl::MutexLock lock(&mu_);
    pool_.Release(piece, c.key(), absl::Now());
    if (refused) {
      pool_.Exclude(piece, c.key());
      refused_.push_back(piece);
    }
  }
  void OnProgress(PeerConnection& c, absl::Span<const PiecePool::Progress> progress,
                  uint64_t new_bytes) override {
    absl::MutexLock lock(&mu_);
    for (const auto& p : progress) pool_.SetProgress(p.piece, c.key(), p.bytes);
    bytes_ += new_bytes;
  }
  void OnPieceVerified(PeerConnection& c, uint32_t piece, PieceBuffer data) override {
    absl::MutexLock lock(&mu_);
    std::vector<PiecePool::PeerKey> others;
    if (pool_.Take(piece, c.key(), absl::Now(), &others))
      written_[piece] = std::string(data.view());
  }
  void OnPieceCorrupt(PeerConnection& c, uint32_t piece) override {
    absl::MutexLock lock(&mu_);
    corrupt_.push_back(piece);
    pool_.Release(piece, c.key(), absl::Now());
  }
  void OnClosed(PeerConnection& c, const absl::Status& reason, bool banned) override {
    absl::MutexLock lock(&mu_);
    pool_.RemovePeer(c.key(), absl::Now());
    closed_ = reason;
    banned_ = banned;
  }

  // Waits until `n` pieces are written or the connection closed.
  bool WaitForPieces(size_t n) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return written_.size() >= n || closed_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&done), kWait);
    return written_.size() >= n;
  }
  bool WaitForClose() {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_.has_value(); };
    return mu_.AwaitWithTimeout(absl::Condition(&done), kWait);
  }
  // Every written piece matches the content.
  void ExpectWrittenCorrectly() {
    absl::MutexLock lock(&mu_);
    const bt::PieceLayout layout = t_.metainfo.layout();
    for (const auto& [piece, data] : written_) {
      EXPECT_EQ(data, t_.content.substr(layout.piece_offset(piece), layout.piece_size(piece)))
          << "piece " << piece;
    }
  }
  const TestTorrent& t_;
  absl::Mutex mu_;
  PiecePool pool_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, std::string> written_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> corrupt_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> refused_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
  bool banned_ ABSL_GUARDED_BY(mu_) = false;
  int bitfields_ ABSL_GUARDED_BY(mu_) = 0;
  int haves_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

class PeerConnectionTest : public ::testing::Test {
 protected:
  // 17 pieces of 64 KiB (4 blocks); the last one is 10000 bytes, a short block.
  TestTorrent t_ = MakeTestTorrent("data.bin", (1 << 20) + 10000, 64 * 1024);
  uint32_t num_pieces() const { return t_.metainfo.num_pieces(); }

  std::unique_ptr<PeerConnection> Connect(const FakeSeeder& seeder, TestJob* job,
                                          PeerConnection::Options o = {}) {
    o.key = 1;
    o.endpoint = *bt::Endpoint::Make(seeder.ip(), seeder.port());
    o.info_hash = t_.metainfo.info_hash;
    o.peer_id.fill('p');
    o.layout = t_.metainfo.layout();
    o.piece_hashes = t_.metainfo.piece_hashes;
    return PeerConnection::Start(o, job);
  }

  // Downloads everything from a seeder with `so`; returns the seeder's stats.
  FakeSeeder::Stats DownloadAll(const FakeSeeder::Options& so) {
    FakeSeeder seeder(t_, so);
    EXPECT_TRUE(seeder.Start().ok());
    TestJob job(t_);
    auto conn = Connect(seeder, &job);
    EXPECT_TRUE(job.WaitForPieces(num_pieces()));
    job.ExpectWrittenCorrectly();
    conn->Stop();
    conn->Join();
    absl::MutexLock lock(&job.mu_);
    EXPECT_TRUE(absl::IsCancelled(*job.closed_)) << *job.closed_;
    EXPECT_FALSE(job.banned_);
    // More when a piece had to be fetched twice.
    EXPECT_GE(job.bytes_, t_.content.size());
    return seeder.stats();
  }
};

TEST_F(PeerConnectionTest, DownloadsEveryPieceWithPipelinedRequests) {
  FakeSeeder::Stats stats = DownloadAll(FakeSeeder::Options());
  EXPECT_EQ(stats.connections, 1);
  EXPECT_TRUE(stats.client_offered_fast);
  ASSERT_EQ(stats.peer_ids.size(), 1u);
  EXPECT_EQ(stats.peer_ids[0], std::string(20, 'p'));
  EXPECT_GE(stats.max_queued_requests, 16u) << "requests must be pipelined";
  EXPECT_EQ(stats.blocks_served, stats.requests) << "no request wasted";
}

TEST_F(PeerConnectionTest, WithoutTheFastExtension) {
  FakeSeeder::Options so;
  so.fast = false;
  DownloadAll(so);
}

TEST_F(PeerConnectionTest, HaveAll) {
  FakeSeeder::Options so;
  so.have_all = true;
  DownloadAll(so);
}

TEST_F(PeerConnectionTest, ChokeMidPieceWithFastExtension) {
  FakeSeeder::Options so;
  so.choke_after_blocks = 6;  // in the middle of piece 1
  DownloadAll(so);
}

TEST_F(PeerConnectionTest, ChokeMidPieceWithoutFastExtension) {
  FakeSeeder::Options so;
  so.fast = false;
  so.choke_after_blocks = 6;
  DownloadAll(so);
}

TEST_F(PeerConnectionTest, RejectedBlockIsRequestedAgain) {
  FakeSeeder::Options so;
  so.reject_piece = 3;
  so.reject_times = 1;
  DownloadAll(so);
}

TEST_F(PeerConnectionTest, PieceRefusedRepeatedlyIsGivenBack) {
  FakeSeeder::Options so;
  so.reject_piece = 3;
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  auto conn = Connect(seeder, &job);
  ASSERT_TRUE(job.WaitForPieces(num_pieces() - 1));
  job.ExpectWrittenCorrectly();
  {
    absl::MutexLock lock(&job.mu_);
    EXPECT_EQ(job.written_.count(3), 0u);
    EXPECT_THAT(job.refused_, ElementsAre(3));
    EXPECT_FALSE(job.pool_.Pick(1, absl::Now()).has_value()) << "excluded for this peer";
    EXPECT_FALSE(job.closed_.has_value());
  }
}

TEST_F(PeerConnectionTest, CorruptPieceIsReportedAndFetchedAgain) {
  FakeSeeder::Options so;
  so.corrupt_piece = 2;
  so.corrupt_times = 1;
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  auto conn = Connect(seeder, &job);
  ASSERT_TRUE(job.WaitForPieces(num_pieces()));
  job.ExpectWrittenCorrectly();
  absl::MutexLock lock(&job.mu_);
  EXPECT_THAT(job.corrupt_, ElementsAre(2));
}

TEST_F(PeerConnectionTest, PeerSendingBadPiecesIsBanned) {
  FakeSeeder::Options so;
  so.corrupt_piece = 2;  // every time
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  auto conn = Connect(seeder, &job);
  ASSERT_TRUE(job.WaitForClose());
  conn->Join();
  job.ExpectWrittenCorrectly();
  absl::MutexLock lock(&job.mu_);
  EXPECT_THAT(job.corrupt_, ElementsAre(2, 2, 2));
  EXPECT_TRUE(job.banned_);
  EXPECT_TRUE(absl::IsDataLoss(*job.closed_)) << *job.closed_;
  EXPECT_EQ(job.written_.count(2), 0u);
}

TEST_F(PeerConnectionTest, PeerPushingBlocksNobodyAskedForIsBanned) {
  FakeSeeder::Options so;
  so.push_unrequested_blocks = 64;  // 10000-byte blocks: 640,000 bytes
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  PeerConnection::Options o;
  o.max_unrequested_bytes = 500'000;
  auto conn = Connect(seeder, &job, o);
  ASSERT_TRUE(job.WaitForClose());
  conn->Join();
  absl::MutexLock lock(&job.mu_);
  EXPECT_TRUE(job.banned_);
  EXPECT_TRUE(conn->misbehaved());
  EXPECT_THAT(job.closed_->message(), HasSubstr("blocks we did not ask for")) << *job.closed_;
}

TEST_F(PeerConnectionTest, AFewUnrequestedBlocksAreTolerated) {
  FakeSeeder::Options so;
  so.push_unrequested_blocks = 8;
  DownloadAll(so);
}

TEST_F(PeerConnectionTest, HavesOfPiecesAnnouncedBeforeAreNotPassedOn) {
  FakeSeeder::Options so;
  so.duplicate_haves = 5000;
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  auto conn = Connect(seeder, &job);
  ASSERT_TRUE(job.WaitForPieces(num_pieces()));
  conn->Stop();
  conn->Join();
  absl::MutexLock lock(&job.mu_);
  EXPECT_EQ(job.haves_, 0);
}

TEST_F(PeerConnectionTest, APeerNeitherSideWantsAnythingFromIsDroppedAfterTheIdleTimeout) {
  FakeSeeder::Options so;
  for (uint32_t p = 0; p < num_pieces(); ++p) so.missing_pieces.push_back(p);  // has nothing
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  PeerConnection::Options o;
  o.idle_timeout = absl::Milliseconds(300);
  auto conn = Connect(seeder, &job, o);
  ASSERT_TRUE(job.WaitForClose());
  conn->Join();
  absl::MutexLock lock(&job.mu_);
  EXPECT_FALSE(job.banned_);
  EXPECT_THAT(job.closed_->message(), HasSubstr("neither side interested")) << *job.closed_;
}

TEST_F(PeerConnectionTest, DisconnectMidPieceReleasesItsPieces) {
  FakeSeeder::Options so;
  so.disconnect_after_blocks = 6;  // piece 0 whole, piece 1 half
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  auto conn = Connect(seeder, &job);
  ASSERT_TRUE(job.WaitForClose());
  conn->Join();
  job.ExpectWrittenCorrectly();
  absl::MutexLock lock(&job.mu_);
  EXPECT_TRUE(absl::IsUnavailable(*job.closed_)) << *job.closed_;
  EXPECT_THAT(std::string(job.closed_->message()), HasSubstr("peer closed the connection"));
  EXPECT_FALSE(job.banned_);
  ASSERT_EQ(job.written_.size(), 1u);
  EXPECT_EQ(job.written_.begin()->first, 0u);
  EXPECT_EQ(job.pool_.num_free(), num_pieces() - 1) << "piece 1 is free again";
}

TEST_F(PeerConnectionTest, RespectsThePeersRequestQueueLimit) {
  FakeSeeder::Options so;
  so.reqq = 5;
  FakeSeeder::Stats stats = DownloadAll(so);
  EXPECT_LE(stats.max_queued_requests, 5u);
}

TEST_F(PeerConnectionTest, SnubbingPeerIsDropped) {
  FakeSeeder::Options so;
  so.serve = false;
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  PeerConnection::Options o;
  o.snub_timeout = absl::Milliseconds(300);
  auto conn = Connect(seeder, &job, o);
  ASSERT_TRUE(job.WaitForClose());
  conn->Join();
  absl::MutexLock lock(&job.mu_);
  EXPECT_TRUE(absl::IsDeadlineExceeded(*job.closed_)) << *job.closed_;
  EXPECT_THAT(std::string(job.closed_->message()), HasSubstr("snubbed"));
  EXPECT_FALSE(job.banned_);
  EXPECT_EQ(job.pool_.num_free(), num_pieces()) << "its pieces are free again";
}

TEST_F(PeerConnectionTest, CancelledPiecesAreCancelledAtThePeer) {
  FakeSeeder::Options so;
  so.stall_after_blocks = 2;  // pieces 0-3 stay in flight
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  auto conn = Connect(seeder, &job);
  ASSERT_TRUE(seeder.WaitFor([](const FakeSeeder::Stats& s) { return s.requests >= 16; }, kWait));
  {
    // As the job does on RevokeLeases.
    absl::MutexLock lock(&job.mu_);
    for (uint32_t p = 0; p < 4; ++p) job.pool_.Remove(p);
  }
  conn->CancelPieces({0, 1, 2, 3});
  // 16 requests for them sent, 2 answered (unless the answers were still on their way): the
  // others are cancelled.
  EXPECT_TRUE(seeder.WaitFor([](const FakeSeeder::Stats& s) { return s.cancels >= 14; }, kWait));
  EXPECT_LE(seeder.stats().cancels, 16u);
}

TEST_F(PeerConnectionTest, WrongInfoHashIsRefused) {
  TestTorrent other = MakeTestTorrent("other.bin", 100000, 32 * 1024, /*seed=*/2);
  FakeSeeder seeder(other, FakeSeeder::Options());
  ASSERT_TRUE(seeder.Start().ok());
  TestJob job(t_);
  auto conn = Connect(seeder, &job);
  ASSERT_TRUE(job.WaitForClose());
  conn->Join();
  absl::MutexLock lock(&job.mu_);
  EXPECT_TRUE(job.banned_);
  EXPECT_TRUE(absl::IsFailedPrecondition(*job.closed_)) << *job.closed_;
  EXPECT_THAT(std::string(job.closed_->message()), HasSubstr("info-hash"));
}

TEST_F(PeerConnectionTest, ConnectionRefused) {
  // A port that was just free: nothing listens there.
  FakeSeeder seeder(t_, FakeSeeder::Options());
  ASSERT_TRUE(seeder.Start().ok());
  const uint16_t port = seeder.port();
  seeder.Stop();
  TestJob job(t_);
  PeerConnection::Options o;
  o.key = 1;
  o.endpoint = *bt::Endpoint::Make("127.0.0.1", port);
  o.info_hash = t_.metainfo.info_hash;
  o.layout = t_.metainfo.layout();
  o.piece_hashes = t_.metainfo.piece_hashes;
  auto conn = PeerConnection::Start(o, &job);
  ASSERT_TRUE(job.WaitForClose());
  conn->Join();
  absl::MutexLock lock(&job.mu_);
  EXPECT_TRUE(absl::IsUnavailable(*job.closed_)) << *job.closed_;
  EXPECT_FALSE(job.banned_);
}

}  // namespace
}  // namespace swarm::peer_svc
