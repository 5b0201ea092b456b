#include "bt/sha1.h"

#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

TEST(Sha1Test, KnownVectors) {
  EXPECT_EQ(ToHex(Sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(ToHex(Sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Sha1Test, IncrementalMatchesOneShotAndResets) {
  Sha1Hasher hasher;
  hasher.Update("a");
  hasher.Update("bc");
  EXPECT_EQ(hasher.Finish(), Sha1("abc"));
  hasher.Update("abc");
  EXPECT_EQ(hasher.Finish(), Sha1("abc"));
}

TEST(Sha1Test, AsBytes) {
  Sha1Digest d = Sha1("abc");
  EXPECT_EQ(AsBytes(d).size(), 20u);
  EXPECT_EQ(static_cast<uint8_t>(AsBytes(d)[0]), 0xa9);
}

}  // namespace
}  // namespace swarm::bt
