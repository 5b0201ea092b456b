#include "bt/bitfield.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

using ::testing::HasSubstr;

TEST(BitfieldTest, StartsClear) {
  Bitfield b(10);
  EXPECT_EQ(b.size(), 10u);
  EXPECT_EQ(b.Count(), 0u);
  EXPECT_TRUE(b.None());
  EXPECT_FALSE(b.All());
  for (uint32_t i = 0; i < 10; ++i) EXPECT_FALSE(b.Get(i));
}

TEST(BitfieldTest, SetClearGetCount) {
  Bitfield b(130);
  b.Set(0);
  b.Set(63);
  b.Set(64);
  b.Set(129);
  b.Set(129);  // Setting twice counts once.
  EXPECT_EQ(b.Count(), 4u);
  EXPECT_TRUE(b.Get(0));
  EXPECT_TRUE(b.Get(63));
  EXPECT_TRUE(b.Get(64));
  EXPECT_TRUE(b.Get(129));
  EXPECT_FALSE(b.Get(1));
  EXPECT_FALSE(b.Get(128));
  b.Clear(63);
  b.Clear(63);
  b.Clear(5);  // Clearing a clear bit changes nothing.
  EXPECT_EQ(b.Count(), 3u);
  EXPECT_FALSE(b.Get(63));
  EXPECT_FALSE(b.None());
}

TEST(BitfieldTest, OutOfRangeIsHarmless) {
  Bitfield b(9);
  b.Set(9);
  b.Set(1000000);
  b.Clear(4000000000u);
  EXPECT_FALSE(b.Get(9));
  EXPECT_FALSE(b.Get(UINT32_MAX));
  EXPECT_EQ(b.Count(), 0u);
  EXPECT_EQ(b.ToBytes(), std::string(2, '\0'));
}

TEST(BitfieldTest, SetAllKeepsSpareBitsZero) {
  for (uint32_t n : {1u, 7u, 8u, 9u, 63u, 64u, 65u, 1000u}) {
    Bitfield b(n);
    b.SetAll();
    EXPECT_TRUE(b.All()) << n;
    EXPECT_EQ(b.Count(), n);
    const std::string bytes = b.ToBytes();
    ASSERT_EQ(bytes.size(), (n + 7) / 8);
    auto back = Bitfield::FromBytes(bytes, n);
    ASSERT_TRUE(back.ok()) << n << ": " << back.status();
    EXPECT_EQ(*back, b);
    b.ClearAll();
    EXPECT_TRUE(b.None());
    EXPECT_EQ(b.ToBytes(), std::string((n + 7) / 8, '\0'));
  }
}

TEST(BitfieldTest, WireOrderHighBitIsPieceZero) {
  Bitfield b(12);
  b.Set(0);
  b.Set(7);
  b.Set(8);
  b.Set(11);
  EXPECT_EQ(b.ToBytes(), std::string("\x81\x90", 2));

  auto parsed = Bitfield::FromBytes(std::string("\x40\x20", 2), 12);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->Get(1));
  EXPECT_TRUE(parsed->Get(10));
  EXPECT_EQ(parsed->Count(), 2u);
}

TEST(BitfieldTest, RoundTripAcrossWordBoundaries) {
  // Bytes chosen so every word of the internal representation has a distinct pattern.
  std::string bytes;
  for (int i = 0; i < 25; ++i) bytes.push_back(static_cast<char>(i * 37 + 1));
  bytes.back() = static_cast<char>(0x80);  // 193 pieces: the last byte only holds piece 192.
  auto b = Bitfield::FromBytes(bytes, 193);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->ToBytes(), bytes);
  uint32_t expected = 0;
  for (unsigned char c : bytes) expected += __builtin_popcount(c);
  EXPECT_EQ(b->Count(), expected);
  EXPECT_TRUE(b->Get(192));
  EXPECT_TRUE(b->Get(7));  // byte 0 is 0x01: piece 7
  EXPECT_FALSE(b->Get(0));

  std::string appended = "xy";
  b->AppendBytes(&appended);
  EXPECT_EQ(appended, "xy" + bytes);
}

TEST(BitfieldTest, ZeroPieces) {
  auto b = Bitfield::FromBytes("", 0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 0u);
  EXPECT_TRUE(b->All());
  EXPECT_TRUE(b->None());
  EXPECT_EQ(b->ToBytes(), "");
  EXPECT_FALSE(Bitfield::FromBytes(std::string(1, '\0'), 0).ok());
}

TEST(BitfieldTest, RejectsWrongLength) {
  auto too_short = Bitfield::FromBytes(std::string(1, '\0'), 9);
  ASSERT_FALSE(too_short.ok());
  EXPECT_EQ(too_short.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_short.status().message(), HasSubstr("is 1 bytes; 9 pieces need exactly 2"));

  auto too_long = Bitfield::FromBytes(std::string(3, '\0'), 9);
  ASSERT_FALSE(too_long.ok());
  EXPECT_THAT(too_long.status().message(), HasSubstr("is 3 bytes; 9 pieces need exactly 2"));

  // A hostile peer sending a huge bitfield for a small torrent.
  EXPECT_FALSE(Bitfield::FromBytes(std::string(1 << 20, '\xff'), 8).ok());
}

TEST(BitfieldTest, RejectsSpareBits) {
  // 9 pieces: byte 1 may only use its high bit.
  auto b = Bitfield::FromBytes(std::string("\xff\x40", 2), 9);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(b.status().message(), HasSubstr("spare bits"));
  EXPECT_THAT(b.status().message(), HasSubstr("0x40"));
  // Each spare bit on its own is caught; the last real bit is fine.
  for (int bit = 0; bit < 7; ++bit) {
    std::string bytes(2, '\0');
    bytes[1] = static_cast<char>(1 << bit);
    EXPECT_FALSE(Bitfield::FromBytes(bytes, 9).ok()) << bit;
  }
  EXPECT_TRUE(Bitfield::FromBytes(std::string("\x00\x80", 2), 9).ok());
  // With a multiple of 8 pieces there are no spare bits.
  EXPECT_TRUE(Bitfield::FromBytes(std::string(2, '\xff'), 16).ok());
}

TEST(BitfieldTest, LengthErrorAndSpareBitErrorDiffer) {
  auto wrong_length = Bitfield::FromBytes(std::string(1, '\0'), 9);
  auto spare = Bitfield::FromBytes(std::string("\x00\x01", 2), 9);
  ASSERT_FALSE(wrong_length.ok());
  ASSERT_FALSE(spare.ok());
  EXPECT_NE(wrong_length.status().message(), spare.status().message());
}

TEST(BitfieldTest, Equality) {
  Bitfield a(10), b(10), c(11);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  a.Set(3);
  EXPECT_NE(a, b);
  b.Set(3);
  EXPECT_EQ(a, b);
}

// Bits 0..n-1 set where `pred` says so.
template <typename Pred>
Bitfield Make(uint32_t n, Pred pred) {
  Bitfield b(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (pred(i)) b.Set(i);
  }
  return b;
}

std::vector<uint32_t> SetBits(const Bitfield& b) {
  std::vector<uint32_t> out;
  for (uint32_t p = b.NextSet(0); p < b.size(); p = b.NextSet(p + 1)) out.push_back(p);
  return out;
}

TEST(BitfieldTest, NextSetVisitsEverySetBitAcrossWords) {
  const std::vector<uint32_t> bits = {0, 1, 63, 64, 65, 127, 128, 190, 199};
  Bitfield b(200);
  for (uint32_t p : bits) b.Set(p);
  EXPECT_EQ(SetBits(b), bits);
  EXPECT_EQ(b.NextSet(2), 63u);
  EXPECT_EQ(b.NextSet(66), 127u);
  EXPECT_EQ(b.NextSet(129), 190u);
  EXPECT_EQ(b.NextSet(191), 199u);
  // Nothing at or past the index: size().
  b.Clear(199);
  EXPECT_EQ(b.NextSet(191), 200u);
  EXPECT_EQ(Bitfield(200).NextSet(0), 200u);
}

TEST(BitfieldTest, NextClearStopsAtTheLastPiece) {
  for (uint32_t n : {1u, 63u, 64u, 65u, 130u}) {
    Bitfield b(n);
    b.SetAll();
    // The spare bits past the last piece are zero but are no pieces.
    EXPECT_EQ(b.NextClear(0), n) << n;
    b.Clear(n - 1);
    EXPECT_EQ(b.NextClear(0), n - 1) << n;
    EXPECT_EQ(b.NextClear(n - 1), n - 1) << n;
  }
  Bitfield b(130);
  b.SetAll();
  b.Clear(5);
  b.Clear(64);
  b.Clear(100);
  EXPECT_EQ(b.NextClear(0), 5u);
  EXPECT_EQ(b.NextClear(6), 64u);
  EXPECT_EQ(b.NextClear(65), 100u);
  EXPECT_EQ(b.NextClear(101), 130u);
  EXPECT_EQ(Bitfield(130).NextClear(77), 77u);
}

TEST(BitfieldTest, NextFromOutOfRangeIsSize) {
  Bitfield b(70);
  b.SetAll();
  EXPECT_EQ(b.NextSet(70), 70u);
  EXPECT_EQ(b.NextSet(UINT32_MAX), 70u);
  EXPECT_EQ(Bitfield(70).NextClear(70), 70u);
  EXPECT_EQ(Bitfield(70).NextClear(UINT32_MAX), 70u);
  Bitfield empty;
  EXPECT_EQ(empty.NextSet(0), 0u);
  EXPECT_EQ(empty.NextClear(0), 0u);
}

TEST(BitfieldTest, UnionIntersectionAndDifferenceWordByWord) {
  const uint32_t n = 150;
  const Bitfield threes = Make(n, [](uint32_t i) { return i % 3 == 0; });
  const Bitfield twos = Make(n, [](uint32_t i) { return i % 2 == 0; });

  Bitfield u = threes;
  ASSERT_TRUE(u.UnionWith(twos).ok());
  EXPECT_EQ(u, Make(n, [](uint32_t i) { return i % 3 == 0 || i % 2 == 0; }));
  EXPECT_EQ(u.Count(), 100u);  // 50 + 75 - 25

  Bitfield x = threes;
  ASSERT_TRUE(x.IntersectWith(twos).ok());
  EXPECT_EQ(x, Make(n, [](uint32_t i) { return i % 6 == 0; }));
  EXPECT_EQ(x.Count(), 25u);

  Bitfield d = threes;
  ASSERT_TRUE(d.Subtract(twos).ok());
  EXPECT_EQ(d, Make(n, [](uint32_t i) { return i % 3 == 0 && i % 2 != 0; }));
  EXPECT_EQ(d.Count(), 25u);

  // With itself: the same, the same, nothing.
  Bitfield self = threes;
  ASSERT_TRUE(self.UnionWith(self).ok());
  ASSERT_TRUE(self.IntersectWith(self).ok());
  EXPECT_EQ(self, threes);
  ASSERT_TRUE(self.Subtract(self).ok());
  EXPECT_TRUE(self.None());
}

TEST(BitfieldTest, CombinedBitfieldsKeepSpareBitsZero) {
  Bitfield full(9);
  full.SetAll();
  Bitfield b(9);
  ASSERT_TRUE(b.UnionWith(full).ok());
  EXPECT_TRUE(b.All());
  EXPECT_EQ(b.ToBytes(), std::string("\xff\x80", 2));
  EXPECT_EQ(b.NextClear(0), 9u);
  ASSERT_TRUE(b.Subtract(Bitfield(9)).ok());
  EXPECT_EQ(b, full);
  ASSERT_TRUE(Bitfield::FromBytes(b.ToBytes(), 9).ok());
}

TEST(BitfieldTest, MismatchedSizesAreAnErrorAndChangeNothing) {
  Bitfield mine(10);
  mine.Set(3);
  const Bitfield before = mine;
  for (uint32_t other_size : {0u, 9u, 11u, 64u, 100000u}) {
    Bitfield other(other_size);
    other.SetAll();
    for (absl::Status s :
         {mine.UnionWith(other), mine.IntersectWith(other), mine.Subtract(other)}) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << other_size;
      EXPECT_THAT(s.message(), HasSubstr("different sizes")) << other_size;
    }
    EXPECT_EQ(mine, before) << other_size;
    EXPECT_EQ(mine.Count(), 1u);
  }
  const absl::Status s = mine.UnionWith(Bitfield(11));
  EXPECT_THAT(s.message(), HasSubstr("union of 10 and 11 pieces"));
  // Both empty: the same size, nothing to do.
  Bitfield empty;
  EXPECT_TRUE(empty.UnionWith(Bitfield()).ok());
  EXPECT_TRUE(empty.All());
}

TEST(BitfieldTest, ForEachSetVisitsEverySetBitInOrder) {
  const Bitfield b = Make(200, [](uint32_t i) { return i % 7 == 0 || i == 63 || i == 64; });
  std::vector<uint32_t> seen;
  b.ForEachSet([&](uint32_t p) { seen.push_back(p); });
  std::vector<uint32_t> want;
  for (uint32_t p = b.NextSet(0); p < b.size(); p = b.NextSet(p + 1)) want.push_back(p);
  EXPECT_EQ(seen, want);
  EXPECT_EQ(seen.size(), b.Count());

  // The top and bottom bits of a word, and a word with every bit set.
  seen.clear();
  Bitfield::ForEachBit(~uint64_t{0}, 2, [&](uint32_t p) { seen.push_back(p); });
  ASSERT_EQ(seen.size(), 64u);
  EXPECT_EQ(seen.front(), 128u);
  EXPECT_EQ(seen.back(), 191u);
  seen.clear();
  Bitfield::ForEachBit(0, 5, [&](uint32_t p) { seen.push_back(p); });
  EXPECT_TRUE(seen.empty());

  Bitfield none(200);
  none.ForEachSet([&](uint32_t p) { seen.push_back(p); });
  EXPECT_TRUE(seen.empty());
  Bitfield().ForEachSet([&](uint32_t p) { seen.push_back(p); });
  EXPECT_TRUE(seen.empty());
}

TEST(BitfieldTest, WordsFollowTheWireOrder) {
  Bitfield b(70);
  b.Set(0);
  b.Set(65);
  ASSERT_EQ(b.words().size(), 2u);
  EXPECT_EQ(b.words()[0], uint64_t{1} << 63);
  EXPECT_EQ(b.words()[1], uint64_t{1} << 62);
  b.SetAll();
  // Spare bits of the last word stay zero: pieces 64..69 are its top 6 bits.
  EXPECT_EQ(b.words()[1], ~uint64_t{0} << 58);
  EXPECT_TRUE(Bitfield().words().empty());
}

TEST(BitfieldTest, PopCount) {
  EXPECT_EQ(Bitfield::PopCount(0), 0u);
  EXPECT_EQ(Bitfield::PopCount(~uint64_t{0}), 64u);
  EXPECT_EQ(Bitfield::PopCount(uint64_t{1} << 63), 1u);
  EXPECT_EQ(Bitfield::PopCount(0x8000000000000001u), 2u);
  uint64_t x = 88172645463325252u;
  for (int i = 0; i < 1000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    EXPECT_EQ(Bitfield::PopCount(x), static_cast<uint32_t>(__builtin_popcountll(x))) << x;
  }
}

TEST(BitfieldTest, IsSubsetOf) {
  const uint32_t n = 150;
  const Bitfield sixes = Make(n, [](uint32_t i) { return i % 6 == 0; });
  const Bitfield twos = Make(n, [](uint32_t i) { return i % 2 == 0; });
  EXPECT_TRUE(sixes.IsSubsetOf(twos));
  EXPECT_FALSE(twos.IsSubsetOf(sixes));
  EXPECT_TRUE(twos.IsSubsetOf(twos));
  EXPECT_TRUE(Bitfield(n).IsSubsetOf(sixes));
  Bitfield last = sixes;
  last.Set(149);  // in the last word only
  EXPECT_FALSE(last.IsSubsetOf(twos));
  EXPECT_FALSE(Bitfield(n).IsSubsetOf(Bitfield(n + 1)));
}

}  // namespace
}  // namespace swarm::bt
