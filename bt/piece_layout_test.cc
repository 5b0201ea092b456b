#include "bt/piece_layout.h"

#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

TEST(PieceLayoutTest, ExactMultiple) {
  auto layout = PieceLayout::Create(4 * 32768, 32768);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->num_pieces(), 4u);
  EXPECT_EQ(layout->piece_size(3), 32768u);
  EXPECT_EQ(layout->num_blocks(0), 2u);
  EXPECT_EQ(layout->block_length(3, 1), kBlockSize);
}

TEST(PieceLayoutTest, ShortLastPieceAndBlock) {
  auto layout = PieceLayout::Create(65536 + 20000, 65536);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->num_pieces(), 2u);
  EXPECT_EQ(layout->piece_size(1), 20000u);
  EXPECT_EQ(layout->num_blocks(1), 2u);
  EXPECT_EQ(layout->block_length(1, 1), 20000u - kBlockSize);
  EXPECT_EQ(layout->piece_offset(1), 65536u);
}

TEST(PieceLayoutTest, PieceSmallerThanBlock) {
  auto layout = PieceLayout::Create(10000, 4096);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->num_pieces(), 3u);
  EXPECT_EQ(layout->num_blocks(0), 1u);
  EXPECT_EQ(layout->block_length(2, 0), 10000u - 8192u);
}

TEST(PieceLayoutTest, RejectsBadParameters) {
  EXPECT_FALSE(PieceLayout::Create(100, 0).ok());
  EXPECT_FALSE(PieceLayout::Create(0, 16384).ok());
  EXPECT_FALSE(PieceLayout::Create(1, kMaxPieceLength + 1).ok());
  EXPECT_FALSE(PieceLayout::Create(UINT64_MAX, 1).ok());
}

TEST(PieceLayoutTest, RangesFromTheNetwork) {
  auto layout = PieceLayout::Create(65536 + 20000, 65536);
  ASSERT_TRUE(layout.ok());
  EXPECT_TRUE(layout->IsValidRange(0, 0, 65536));
  EXPECT_FALSE(layout->IsValidRange(0, 1, 65536));
  EXPECT_FALSE(layout->IsValidRange(2, 0, 1));
  EXPECT_FALSE(layout->IsValidRange(0, 0, 0));
  EXPECT_FALSE(layout->IsValidRange(1, UINT32_MAX, 2));  // no 32-bit wrap-around
  EXPECT_TRUE(layout->IsBlock(1, kBlockSize, 20000 - kBlockSize));
  EXPECT_FALSE(layout->IsBlock(1, kBlockSize, kBlockSize));
  EXPECT_FALSE(layout->IsBlock(0, 100, kBlockSize));
}

}  // namespace
}  // namespace swarm::bt
