#include "peer_svc/block_pipeline.h"

#include <string>
#include <vector>

#include "bt/wire.h"
#include "gtest/gtest.h"

namespace swarm::peer_svc {
namespace {

constexpr uint32_t kB = bt::kBlockSize;

struct Req {
  uint32_t index, begin, length;
  bool operator==(const Req& o) const {
    return index == o.index && begin == o.begin && length == o.length;
  }
};

// Decodes the request (or cancel) messages the pipeline appended.
std::vector<Req> Decode(const std::string& bytes,
                        bt::MessageType type = bt::MessageType::kRequest) {
  bt::MessageParser::Limits limits;
  limits.num_pieces = 1000;
  bt::MessageParser parser(limits);
  parser.Feed(bytes);
  std::vector<Req> out;
  while (true) {
    auto m = parser.Next();
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok() || !m->has_value()) break;
    EXPECT_EQ((*m)->type, type);
    out.push_back(Req{(*m)->index, (*m)->begin, (*m)->length});
  }
  return out;
}

class BlockPipelineTest : public ::testing::Test {
 protected:
  // 4 pieces of 4 blocks, the last one 1.5 blocks long.
  bt::PieceLayout layout_ = *bt::PieceLayout::Create(3 * 4 * kB + kB + kB / 2, 4 * kB);
  absl::Time now_ = absl::FromUnixSeconds(1000);
  std::string block_ = std::string(kB, 'x');

  std::string Block(uint32_t piece, uint32_t b) {
    return std::string(layout_.block_length(piece, b), static_cast<char>('a' + piece * 4 + b));
  }
};

TEST_F(BlockPipelineTest, RequestsInOrderUpToTheDepth) {
  BlockPipeline::Options o;
  o.min_depth = 6;
  BlockPipeline p(layout_, o, now_);
  EXPECT_TRUE(p.WantsPiece());
  p.AddPiece(2);
  EXPECT_TRUE(p.WantsPiece()) << "one piece of 4 blocks cannot fill a depth of 6";
  p.AddPiece(3);
  EXPECT_FALSE(p.WantsPiece());
  std::string out;
  EXPECT_EQ(p.AppendRequests(&out), 6u);
  EXPECT_EQ(
      Decode(out),
      (std::vector<Req>{
          {2, 0, kB}, {2, kB, kB}, {2, 2 * kB, kB}, {2, 3 * kB, kB}, {3, 0, kB}, {3, kB, kB / 2}}));
  EXPECT_EQ(p.in_flight(), 6u);
  out.clear();
  EXPECT_EQ(p.AppendRequests(&out), 0u);
  EXPECT_FALSE(p.WantsPiece()) << "queue full";
}

TEST_F(BlockPipelineTest, AssemblesAPieceFromBlocksInAnyOrder) {
  BlockPipeline p(layout_, BlockPipeline::Options(), now_);
  p.AddPiece(1);
  std::string out;
  p.AppendRequests(&out);
  std::string expected;
  for (uint32_t b = 0; b < 4; ++b) expected += Block(1, b);
  for (uint32_t b : {2u, 0u, 3u}) {
    EXPECT_EQ(p.OnBlock(1, b * kB, Block(1, b), now_), BlockPipeline::BlockResult::kStored);
  }
  EXPECT_EQ(p.BytesReceived(1), 3 * kB);
  EXPECT_EQ(p.OnBlock(1, 2 * kB, Block(1, 2), now_), BlockPipeline::BlockResult::kIgnored)
      << "duplicate";
  EXPECT_EQ(p.OnBlock(1, kB, Block(1, 1), now_), BlockPipeline::BlockResult::kPieceComplete);
  EXPECT_EQ(p.PieceData(1), expected);
  EXPECT_EQ(p.in_flight(), 0u);
  p.FinishPiece(1);
  EXPECT_FALSE(p.HasPiece(1));
  EXPECT_EQ(p.num_pieces(), 0u);
}

TEST_F(BlockPipelineTest, ShortLastPiece) {
  BlockPipeline p(layout_, BlockPipeline::Options(), now_);
  p.AddPiece(3);
  std::string out;
  EXPECT_EQ(p.AppendRequests(&out), 2u);
  EXPECT_EQ(p.OnBlock(3, 0, Block(3, 0), now_), BlockPipeline::BlockResult::kStored);
  EXPECT_EQ(p.OnBlock(3, kB, Block(3, 1), now_), BlockPipeline::BlockResult::kPieceComplete);
  EXPECT_EQ(p.PieceData(3).size(), kB + kB / 2);
}

TEST_F(BlockPipelineTest, ReusedBufferHoldsTheNewPiece) {
  BlockPipeline p(layout_, BlockPipeline::Options(), now_);
  for (uint32_t piece : {0u, 1u}) {
    p.AddPiece(piece);
    std::string out;
    p.AppendRequests(&out);
    std::string expected;
    for (uint32_t b = 0; b < 4; ++b) {
      expected += Block(piece, b);
      p.OnBlock(piece, b * kB, Block(piece, b), now_);
    }
    EXPECT_EQ(p.PieceData(piece), expected);
    p.FinishPiece(piece);
  }
}

TEST_F(BlockPipelineTest, InvalidAndForeignBlocks) {
  BlockPipeline p(layout_, BlockPipeline::Options(), now_);
  p.AddPiece(0);
  std::string out;
  p.AppendRequests(&out);
  EXPECT_EQ(p.OnBlock(1, 0, block_, now_), BlockPipeline::BlockResult::kIgnored)
      << "a piece we are not assembling (say, cancelled)";
  EXPECT_EQ(p.OnBlock(0, 100, block_, now_), BlockPipeline::BlockResult::kInvalid) << "misaligned";
  EXPECT_EQ(p.OnBlock(0, 0, std::string(100, 'x'), now_), BlockPipeline::BlockResult::kInvalid)
      << "short";
  EXPECT_EQ(p.OnBlock(0, 4 * kB, block_, now_), BlockPipeline::BlockResult::kInvalid)
      << "past the piece";
  EXPECT_EQ(p.in_flight(), 4u);
}

TEST_F(BlockPipelineTest, ChokeVoidsRequestsAndTheyAreSentAgain) {
  BlockPipeline p(layout_, BlockPipeline::Options(), now_);
  p.AddPiece(0);
  std::string out;
  EXPECT_EQ(p.AppendRequests(&out), 4u);
  EXPECT_EQ(p.OnBlock(0, 0, Block(0, 0), now_), BlockPipeline::BlockResult::kStored);
  p.OnChoke();
  EXPECT_EQ(p.in_flight(), 0u);
  // A block the peer sent before its choke still counts.
  EXPECT_EQ(p.OnBlock(0, kB, Block(0, 1), now_), BlockPipeline::BlockResult::kStored);
  out.clear();
  EXPECT_EQ(p.AppendRequests(&out), 2u);
  EXPECT_EQ(Decode(out), (std::vector<Req>{{0, 2 * kB, kB}, {0, 3 * kB, kB}}));
  EXPECT_EQ(p.OnBlock(0, 2 * kB, Block(0, 2), now_), BlockPipeline::BlockResult::kStored);
  EXPECT_EQ(p.OnBlock(0, 3 * kB, Block(0, 3), now_), BlockPipeline::BlockResult::kPieceComplete);
}

TEST_F(BlockPipelineTest, RejectRetriesThenGivesUp) {
  BlockPipeline::Options o;
  o.max_rejects_per_piece = 2;
  BlockPipeline p(layout_, o, now_);
  p.AddPiece(0);
  std::string out;
  p.AppendRequests(&out);
  EXPECT_EQ(p.OnReject(0, kB, kB), BlockPipeline::RejectResult::kRetry);
  EXPECT_EQ(p.OnReject(0, kB, kB), BlockPipeline::RejectResult::kIgnored) << "not in flight";
  EXPECT_EQ(p.OnReject(1, 0, kB), BlockPipeline::RejectResult::kIgnored);
  EXPECT_EQ(p.in_flight(), 3u);
  out.clear();
  EXPECT_EQ(p.AppendRequests(&out), 1u);
  EXPECT_EQ(Decode(out), (std::vector<Req>{{0, kB, kB}}));
  EXPECT_EQ(p.OnReject(0, 2 * kB, kB), BlockPipeline::RejectResult::kGiveUp);
  out.clear();
  p.DropPiece(0, &out);
  EXPECT_EQ(Decode(out, bt::MessageType::kCancel),
            (std::vector<Req>{{0, 0, kB}, {0, kB, kB}, {0, 3 * kB, kB}}));
  EXPECT_EQ(p.in_flight(), 0u);
  EXPECT_FALSE(p.HasPiece(0));
}

TEST_F(BlockPipelineTest, DropCancelsOnlyWhatIsInFlight) {
  BlockPipeline p(layout_, BlockPipeline::Options(), now_);
  p.AddPiece(0);
  p.AddPiece(1);
  std::string out;
  p.AppendRequests(&out);
  p.OnBlock(0, 0, Block(0, 0), now_);
  out.clear();
  p.DropPiece(0, &out);
  EXPECT_EQ(Decode(out, bt::MessageType::kCancel),
            (std::vector<Req>{{0, kB, kB}, {0, 2 * kB, kB}, {0, 3 * kB, kB}}));
  EXPECT_EQ(p.in_flight(), 4u);
  EXPECT_EQ(p.Pieces(), std::vector<uint32_t>{1});
  p.DropPiece(7, &out);  // not here: no-op
}

TEST_F(BlockPipelineTest, DepthFollowsTheRate) {
  BlockPipeline::Options o;
  o.min_depth = 16;
  o.max_depth = 512;
  o.horizon = absl::Seconds(2);
  o.rate_window = absl::Seconds(1);
  auto layout = *bt::PieceLayout::Create(uint64_t{1} << 30, 1 << 20);
  BlockPipeline p(layout, o, now_);
  EXPECT_EQ(p.target_depth(), 16u);
  EXPECT_EQ(p.DesiredPieces(), 2u);  // 16 blocks = 1/4 piece, rounded up, plus one
  p.AddPiece(0);
  std::string out;
  p.AppendRequests(&out);
  // 10 blocks in one second: 160 KiB/s -> 2 s worth is 20 blocks.
  for (uint32_t b = 0; b < 10; ++b) p.OnBlock(0, b * kB, block_, now_ + absl::Milliseconds(b));
  EXPECT_EQ(p.target_depth(), 26u) << "slow start";
  p.Tick(now_ + absl::Seconds(1));
  EXPECT_EQ(p.target_depth(), 20u);
  // Idle windows halve the estimate, down to the floor.
  p.Tick(now_ + absl::Seconds(2));
  EXPECT_EQ(p.target_depth(), 16u);
  // A fast peer: capped.
  for (uint32_t b = 10; b < 64; ++b) p.OnBlock(0, b * kB, block_, now_ + absl::Seconds(2));
  out.clear();
  p.AppendRequests(&out);
  p.Tick(now_ + absl::Seconds(3));
  EXPECT_GT(p.target_depth(), 16u);
  EXPECT_LE(p.target_depth(), 512u);
  for (int i = 0; i < 20; ++i) {
    p.AddPiece(1 + i);
    out.clear();
    p.AppendRequests(&out);
    for (uint32_t b = 0; b < 64; ++b) {
      p.OnBlock(1 + i, b * kB, block_, now_ + absl::Seconds(3) + absl::Milliseconds(10 * i));
    }
    p.FinishPiece(1 + i);
  }
  p.Tick(now_ + absl::Seconds(4));
  EXPECT_EQ(p.target_depth(), 512u);
  EXPECT_EQ(p.DesiredPieces(), 9u);  // 8 MiB of 1 MiB pieces, plus one
  // The peer's own limit (BEP 10 reqq) wins.
  p.SetPeerQueueLimit(100);
  EXPECT_EQ(p.target_depth(), 100u);
}

TEST_F(BlockPipelineTest, SlowStartUntilTheFirstMeasurement) {
  BlockPipeline::Options o;
  o.min_depth = 16;
  o.rate_window = absl::Seconds(1);
  auto layout = *bt::PieceLayout::Create(uint64_t{1} << 30, 1 << 20);
  BlockPipeline p(layout, o, now_);
  // A window without data (choked) is not a measurement.
  p.Tick(now_ + absl::Seconds(1));
  EXPECT_EQ(p.target_depth(), 16u);
  p.AddPiece(0);
  std::string out;
  EXPECT_EQ(p.AppendRequests(&out), 16u);
  for (uint32_t b = 0; b < 16; ++b) p.OnBlock(0, b * kB, block_, now_ + absl::Seconds(1));
  EXPECT_EQ(p.target_depth(), 32u) << "one more per block: doubled in one round trip";
  out.clear();
  EXPECT_EQ(p.AppendRequests(&out), 32u);
  p.SetPeerQueueLimit(20);
  EXPECT_EQ(p.target_depth(), 20u);
  for (uint32_t b = 16; b < 48; ++b) p.OnBlock(0, b * kB, block_, now_ + absl::Seconds(1));
  EXPECT_EQ(p.target_depth(), 20u) << "never past the peer's limit";
  // The first measurement takes over: 48 blocks in 1 s -> 96 blocks for 2 s, capped at 20.
  p.Tick(now_ + absl::Seconds(2));
  EXPECT_EQ(p.target_depth(), 20u);
  p.SetPeerQueueLimit(1000);
  EXPECT_EQ(p.target_depth(), 96u);
}

TEST_F(BlockPipelineTest, PeerLimitBelowTheFloor) {
  BlockPipeline p(layout_, BlockPipeline::Options(), now_);
  p.SetPeerQueueLimit(3);
  EXPECT_EQ(p.target_depth(), 3u);
  p.AddPiece(0);
  std::string out;
  EXPECT_EQ(p.AppendRequests(&out), 3u);
}

}  // namespace
}  // namespace swarm::peer_svc
