#include "peer_svc/piece_cache.h"

#include <string>

#include "gtest/gtest.h"

namespace swarm::peer_svc {
namespace {

TEST(PieceCacheTest, ReadsBlocksOfHeldPiecesAndRefusesOthers) {
  PieceCache cache(100);
  cache.Put(3, "abcdefghij");
  char out[4] = {};
  ASSERT_TRUE(cache.Read(3, 2, 4, out).ok());
  EXPECT_EQ(std::string(out, 4), "cdef");
  EXPECT_EQ(cache.Read(4, 0, 1, out).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.Read(3, 8, 4, out).code(), absl::StatusCode::kOutOfRange);
}

TEST(PieceCacheTest, TheLeastRecentlyUsedPieceGoesFirstAndTheBoundHolds) {
  PieceCache cache(30);
  cache.Put(1, std::string(10, '1'));
  cache.Put(2, std::string(10, '2'));
  cache.Put(3, std::string(10, '3'));
  char out[1];
  ASSERT_TRUE(cache.Read(1, 0, 1, out).ok());  // 1 used: 2 is now the oldest
  cache.Put(4, std::string(10, '4'));
  EXPECT_TRUE(cache.Has(1));
  EXPECT_FALSE(cache.Has(2));
  EXPECT_TRUE(cache.Has(3));
  EXPECT_TRUE(cache.Has(4));
  EXPECT_EQ(cache.bytes(), 30u);
  cache.Put(5, std::string(31, '5'));  // larger than the cache: not kept, nothing evicted
  EXPECT_FALSE(cache.Has(5));
  EXPECT_EQ(cache.bytes(), 30u);
  cache.Put(4, std::string(5, 'x'));  // replaced
  EXPECT_EQ(cache.bytes(), 25u);
}

}  // namespace
}  // namespace swarm::peer_svc
