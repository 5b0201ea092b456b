#include "peer_svc/piece_memory.h"

#include <utility>
#include <vector>

#include "bt/piece_layout.h"
#include "gtest/gtest.h"
#include "peer_svc/block_pipeline.h"
#include "peer_svc/piece_buffer.h"

namespace swarm::peer_svc {
namespace {

constexpr size_t kPiece = 64 << 10;

TEST(PieceMemoryTest, ReservesUpToTheLimitAndAloneAnythingFits) {
  PieceMemory memory(100);
  EXPECT_TRUE(memory.TryReserve(60));
  EXPECT_FALSE(memory.TryReserve(41));
  EXPECT_TRUE(memory.TryReserve(40));
  EXPECT_EQ(memory.reserved(), 100u);
  memory.Release(100);
  // Alone, a piece longer than the whole budget still gets its buffer.
  EXPECT_TRUE(memory.TryReserve(1000));
  EXPECT_FALSE(memory.TryReserve(1));
  memory.Release(1000);
  EXPECT_EQ(memory.reserved(), 0u);
  EXPECT_EQ(memory.peak(), 1000u);
}

TEST(PieceMemoryTest, EveryBufferCountsUntilItIsFreedWhoeverFreesIt) {
  PieceMemory memory(3 * kPiece);
  BufferPool pool(kPiece, /*max_idle_bytes=*/kPiece, &memory);
  std::vector<PieceBytes> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(pool.TryGet());
    ASSERT_NE(held.back(), nullptr);
  }
  EXPECT_EQ(pool.TryGet(), nullptr) << "over budget";
  EXPECT_EQ(memory.reserved(), 3 * kPiece);

  // Given back: kept idle (still counted, and handed out again without a new reservation).
  pool.Put(std::move(held.back()));
  held.pop_back();
  EXPECT_EQ(memory.reserved(), 3 * kPiece);
  held.push_back(pool.TryGet());
  ASSERT_NE(held.back(), nullptr);

  // Dropped without the pool (a PieceBuffer let go): its bytes come back all the same.
  held.pop_back();
  EXPECT_EQ(memory.reserved(), 2 * kPiece);
  // Beyond the pool's idle allowance (two buffers at least), a buffer given back is freed.
  PieceBytes third = pool.TryGet();
  ASSERT_NE(third, nullptr);
  for (PieceBytes& b : held) pool.Put(std::move(b));
  pool.Put(std::move(third));
  EXPECT_EQ(memory.reserved(), 2 * kPiece) << "two kept idle, one freed";
}

TEST(PieceMemoryTest, APipelinePicksNoPieceWithoutABuffer) {
  const bt::PieceLayout layout = *bt::PieceLayout::Create(8 * kPiece, kPiece);
  PieceMemory memory(2 * kPiece);
  BufferPool pool(kPiece, /*max_idle_bytes=*/0, &memory);
  BlockPipeline::Options options;
  const absl::Time now = absl::FromUnixSeconds(1000);
  BlockPipeline a(layout, options, now, &pool);
  BlockPipeline b(layout, options, now, &pool);
  ASSERT_TRUE(a.AddPiece(0));
  ASSERT_TRUE(a.AddPiece(1));
  EXPECT_FALSE(b.ReserveBuffer()) << "the budget holds two pieces, both at a";
  EXPECT_FALSE(b.AddPiece(2));
  EXPECT_EQ(b.num_pieces(), 0u);

  a.DropPiece(0, nullptr);  // its buffer is kept as a spare for a's next piece...
  EXPECT_FALSE(b.ReserveBuffer());
  a.ReturnSpareBuffers();  // ...until a has nothing to fetch
  EXPECT_TRUE(b.ReserveBuffer());
  EXPECT_TRUE(b.AddPiece(2));
  EXPECT_EQ(memory.reserved(), 2 * kPiece);
}

}  // namespace
}  // namespace swarm::peer_svc
