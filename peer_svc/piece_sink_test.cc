// The streaming mode's two ends in one process: PieceStreamer sends pieces to a
// PieceSinkServer, which writes them; a sink that refuses is left for the next one.
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "peer_svc/piece_sink_server.h"
#include "peer_svc/piece_streamer.h"

namespace swarm::peer_svc {
namespace {

constexpr uint32_t kPieceSize = 3 << 20;  // 3 chunks of 1 MiB

struct Disk {
  absl::Mutex mu;
  std::map<uint32_t, std::string> pieces;
};

std::unique_ptr<PieceSinkServer> StartSink(Disk* disk, const std::string& token,
                                           bool sees_folder = true) {
  PieceSinkServer::Options o;
  o.listen = "127.0.0.1:0";
  o.auth_token = token;
  o.piece_size = [](const std::string& job, uint32_t piece) -> absl::StatusOr<uint32_t> {
    if (job != "job1") return absl::NotFoundError("no such job here");
    if (piece >= 4) return absl::OutOfRangeError("no such piece");
    return piece == 3 ? 1000 : kPieceSize;  // the last piece is short
  };
  o.write = [disk, sees_folder](const std::string&, uint32_t piece, std::string_view bytes) {
    if (!sees_folder) return absl::NotFoundError("cannot open output folder");
    absl::MutexLock lock(&disk->mu);
    disk->pieces[piece] = std::string(bytes);
    return absl::OkStatus();
  };
  auto sink = PieceSinkServer::Start(o);
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? *std::move(sink) : nullptr;
}

std::string Bytes(uint32_t n, char seed) {
  std::string s(n, '\0');
  for (uint32_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7);
  return s;
}

TEST(PieceSinkTest, PiecesArriveWholeInChunksAndAreAnsweredOneByOne) {
  Disk disk;
  auto sink = StartSink(&disk, "t0k");
  ASSERT_NE(sink, nullptr);
  PieceStreamer streamer({.job_id = "job1",
                          .sinks = {"127.0.0.1:" + std::to_string(sink->port())},
                          .auth_token = "t0k"});
  const std::string p0 = Bytes(kPieceSize, 'a');
  const std::string p3 = Bytes(1000, 'z');
  ASSERT_TRUE(streamer.Send(0, p0).ok());
  ASSERT_TRUE(streamer.Send(3, p3).ok());
  absl::MutexLock lock(&disk.mu);
  EXPECT_EQ(disk.pieces[0], p0);
  EXPECT_EQ(disk.pieces[3], p3);
}

TEST(PieceSinkTest, WrongSizesJobsAndTokensAreRefused) {
  Disk disk;
  auto sink = StartSink(&disk, "t0k");
  ASSERT_NE(sink, nullptr);
  const std::string address = "127.0.0.1:" + std::to_string(sink->port());
  PieceStreamer streamer({.job_id = "job1", .sinks = {address}, .auth_token = "t0k"});
  EXPECT_FALSE(streamer.Send(3, Bytes(999, 'a')).ok()) << "a short piece";
  EXPECT_FALSE(streamer.Send(3, Bytes(1001, 'a')).ok()) << "a long piece";
  EXPECT_FALSE(streamer.Send(9, Bytes(10, 'a')).ok()) << "out of range";
  PieceStreamer other_job({.job_id = "job2", .sinks = {address}, .auth_token = "t0k"});
  EXPECT_FALSE(other_job.Send(0, Bytes(10, 'a')).ok());
  PieceStreamer stranger({.job_id = "job1", .sinks = {address}, .auth_token = "wrong"});
  EXPECT_FALSE(stranger.Send(3, Bytes(1000, 'a')).ok());
  absl::MutexLock lock(&disk.mu);
  EXPECT_TRUE(disk.pieces.empty());
}

TEST(PieceSinkTest, ASinkThatCannotWriteOrIsGoneIsLeftForTheNext) {
  Disk blind_disk;
  Disk disk;
  auto blind = StartSink(&blind_disk, "", /*sees_folder=*/false);
  auto good = StartSink(&disk, "");
  ASSERT_NE(blind, nullptr);
  ASSERT_NE(good, nullptr);
  const std::string blind_address = "127.0.0.1:" + std::to_string(blind->port());
  const std::string good_address = "127.0.0.1:" + std::to_string(good->port());
  PieceStreamer streamer({.job_id = "job1", .sinks = {blind_address, good_address}});
  ASSERT_TRUE(streamer.Send(3, Bytes(1000, 'q')).ok());
  EXPECT_EQ(streamer.sink(), good_address);

  good->Shutdown();
  EXPECT_FALSE(streamer.Send(3, Bytes(1000, 'q')).ok()) << "no sink left that writes";
  absl::MutexLock lock(&disk.mu);
  EXPECT_EQ(disk.pieces.size(), 1u);
}

}  // namespace
}  // namespace swarm::peer_svc
