// Which pieces of a torrent a peer (or we) have: one bit per piece, in the byte order of the
// BEP 3 bitfield message (the high bit of byte 0 is piece 0). A peer's bitfield is untrusted,
// so FromBytes checks its exact length and that the spare bits past the last piece are zero.
//
//   SWARM_ASSIGN_OR_RETURN(bt::Bitfield have,
//                          bt::Bitfield::FromBytes(payload, layout.num_pieces()));
//   have.Set(piece);                       // after a "have" message
//   if (have.All()) ...                    // a seeder
//   std::string wire = mine.ToBytes();     // what we send
//
// Whole-bitfield operations work a 64-bit word at a time, for the coordinator's piece sets
// (which pieces any of a worker's peers has, which of those are still needed):
//
//   bt::Bitfield any(num_pieces);
//   for (const bt::Bitfield& peer : peers) SWARM_RETURN_IF_ERROR(any.UnionWith(peer));
//   SWARM_RETURN_IF_ERROR(any.IntersectWith(needed));
//   for (uint32_t p = any.NextSet(0); p < any.size(); p = any.NextSet(p + 1)) ...
//
// Code that keeps counts per piece (the coordinator's availability) reads the words itself
// and visits only the bits that differ between two bitfields:
//
//   for (size_t w = 0; w < after.words().size(); ++w) {
//     bt::Bitfield::ForEachBit(after.words()[w] & ~before.words()[w], w,
//                              [&](uint32_t p) { ++count[p]; });
//   }
#ifndef SWARM_BT_BITFIELD_H_
#define SWARM_BT_BITFIELD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace swarm::bt {

class Bitfield {
 public:
  // Zero pieces.
  Bitfield() = default;
  // `num_pieces` bits, all clear.
  explicit Bitfield(uint32_t num_pieces);

  // Size of the wire form of a bitfield of `num_pieces` bits: ceil(num_pieces / 8).
  static size_t ByteLength(uint32_t num_pieces) { return (size_t{num_pieces} + 7) / 8; }

  // Parses the payload of a bitfield message. Fails unless `bytes` is exactly
  // ByteLength(num_pieces) long and every bit past piece num_pieces - 1 is zero (BEP 3 says
  // peers drop the connection otherwise; a set spare bit is a sign of a wrong torrent).
  static absl::StatusOr<Bitfield> FromBytes(std::string_view bytes, uint32_t num_pieces);

  // The wire form: ByteLength(size()) bytes, spare bits zero.
  std::string ToBytes() const;
  // Appends the wire form to `out` (a sender reuses one buffer).
  void AppendBytes(std::string* out) const;

  uint32_t size() const { return size_; }

  // Indices should come from validated input (MessageParser checks every piece index against
  // the piece count). An index >= size() reads as false and Set/Clear ignore it, so a bug
  // elsewhere cannot write out of bounds.
  bool Get(uint32_t i) const {
    return i < size_ && (words_[i / 64] & (uint64_t{1} << (63 - i % 64))) != 0;
  }
  void Set(uint32_t i);
  void Clear(uint32_t i);
  void SetAll();
  void ClearAll();

  // Number of set bits. O(1): kept up to date by Set/Clear, recomputed by popcount after
  // bulk loads and the word-at-a-time operations below.
  uint32_t Count() const { return count_; }
  // True when every piece is set; a zero-size bitfield counts as complete.
  bool All() const { return count_ == size_; }
  bool None() const { return count_ == 0; }

  // The first set (clear) bit at or after `from`; size() when there is none, `from` >=
  // size() included, so `for (p = b.NextSet(0); p < b.size(); p = b.NextSet(p + 1))` visits
  // every set bit in ascending order.
  uint32_t NextSet(uint32_t from) const;
  uint32_t NextClear(uint32_t from) const;

  // In place, a word at a time: this |= other, this &= other, this &= ~other. Both must have
  // the same size(); otherwise INVALID_ARGUMENT and this bitfield is left as it was (sizes
  // come from untrusted peers, so a mismatch is an error, never a crash).
  absl::Status UnionWith(const Bitfield& other);
  absl::Status IntersectWith(const Bitfield& other);
  absl::Status Subtract(const Bitfield& other);
  // Every bit set here is set in `other` too; false when the sizes differ.
  bool IsSubsetOf(const Bitfield& other) const;

  // The raw words, ceil(size() / 64) of them: piece i is bit (63 - i % 64) of word i / 64
  // (the most significant bit first), and the spare bits of the last word are zero.
  absl::Span<const uint64_t> words() const { return words_; }
  // Calls f(piece) for every bit set in `bits`, taken as word `word_index` of a bitfield, in
  // ascending piece order: one count-leading-zeros per set bit, nothing per clear one.
  template <typename F>
  static void ForEachBit(uint64_t bits, size_t word_index, F&& f) {
    const uint32_t base = static_cast<uint32_t>(word_index * 64);
    while (bits != 0) {
      const int top = __builtin_clzll(bits);
      f(base + static_cast<uint32_t>(top));
      bits &= ~(uint64_t{1} << (63 - top));
    }
  }
  // Number of bits set in `word`. Bit-parallel rather than __builtin_popcountll: the build
  // does not assume the POPCNT instruction, and without it the builtin is a libgcc call per
  // word, about 2.5 times slower over a bitfield.
  static uint32_t PopCount(uint64_t word) {
    word = word - ((word >> 1) & 0x5555555555555555u);
    word = (word & 0x3333333333333333u) + ((word >> 2) & 0x3333333333333333u);
    word = (word + (word >> 4)) & 0x0f0f0f0f0f0f0f0fu;
    return static_cast<uint32_t>((word * 0x0101010101010101u) >> 56);
  }
  // Calls f(piece) for every set piece, ascending, a word at a time.
  template <typename F>
  void ForEachSet(F&& f) const {
    for (size_t w = 0; w < words_.size(); ++w) ForEachBit(words_[w], w, f);
  }

  friend bool operator==(const Bitfield& a, const Bitfield& b) {
    return a.size_ == b.size_ && a.words_ == b.words_;
  }
  friend bool operator!=(const Bitfield& a, const Bitfield& b) { return !(a == b); }

 private:
  // words_[i] = op(words_[i], other.words_[i]) for every word, then recounts; the size
  // check of UnionWith and co. (`name` goes into the error).
  absl::Status Combine(const Bitfield& other, const char* name,
                       uint64_t (*op)(uint64_t mine, uint64_t theirs));
  // Index of the first bit at or after `from` that is set in words_[w] ^ flip (flip = 0:
  // set bits; all ones: clear bits); size() if none.
  uint32_t NextWhere(uint32_t from, uint64_t flip) const;
  void Recount();

  // Piece i is bit (63 - i % 64) of words_[i / 64]: the most significant bit first, so the
  // wire bytes are the words' big-endian bytes and no bit reversal is needed. Spare bits in
  // the last word are always zero (operator== and Count rely on it).
  std::vector<uint64_t> words_;
  uint32_t size_ = 0;
  uint32_t count_ = 0;
};

}  // namespace swarm::bt

#endif  // SWARM_BT_BITFIELD_H_
