#include "bt/bitfield.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace swarm::bt {
namespace {

size_t WordCount(uint32_t num_pieces) { return (size_t{num_pieces} + 63) / 64; }

// Mask of the bits of the last word that belong to pieces; all ones when size is a multiple
// of 64 (and for size 0, where there is no last word to mask).
uint64_t LastWordMask(uint32_t num_pieces) {
  const uint32_t used = num_pieces % 64;
  return used == 0 ? ~uint64_t{0} : ~uint64_t{0} << (64 - used);
}

}  // namespace

Bitfield::Bitfield(uint32_t num_pieces) : words_(WordCount(num_pieces), 0), size_(num_pieces) {}

absl::StatusOr<Bitfield> Bitfield::FromBytes(std::string_view bytes, uint32_t num_pieces) {
  const size_t want = ByteLength(num_pieces);
  if (bytes.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat("bitfield is ", bytes.size(), " bytes; ",
                                                   num_pieces, " pieces need exactly ", want));
  }
  if (num_pieces % 8 != 0) {
    // Only the last byte can hold spare bits: its low (8 - num_pieces % 8) bits.
    const uint8_t last = static_cast<uint8_t>(bytes.back());
    const uint8_t spare = static_cast<uint8_t>(0xFFu >> (num_pieces % 8));
    if ((last & spare) != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "bitfield sets spare bits past piece %u (the last of %u): byte %u is 0x%02x",
          num_pieces - 1, num_pieces, want - 1, last));
    }
  }
  Bitfield result(num_pieces);
  for (size_t i = 0; i < want; ++i) {
    result.words_[i / 8] |= uint64_t{static_cast<uint8_t>(bytes[i])} << (56 - 8 * (i % 8));
  }
  result.Recount();
  return result;
}

std::string Bitfield::ToBytes() const {
  std::string out;
  AppendBytes(&out);
  return out;
}

void Bitfield::AppendBytes(std::string* out) const {
  const size_t n = ByteLength(size_);
  const size_t start = out->size();
  out->resize(start + n);
  char* p = out->data() + start;
  for (size_t i = 0; i < n; ++i) {
    p[i] = static_cast<char>(static_cast<uint8_t>(words_[i / 8] >> (56 - 8 * (i % 8))));
  }
}

void Bitfield::Set(uint32_t i) {
  if (i >= size_) return;
  uint64_t& w = words_[i / 64];
  const uint64_t bit = uint64_t{1} << (63 - i % 64);
  if ((w & bit) == 0) {
    w |= bit;
    ++count_;
  }
}

void Bitfield::Clear(uint32_t i) {
  if (i >= size_) return;
  uint64_t& w = words_[i / 64];
  const uint64_t bit = uint64_t{1} << (63 - i % 64);
  if ((w & bit) != 0) {
    w &= ~bit;
    --count_;
  }
}

void Bitfield::SetAll() {
  for (uint64_t& w : words_) w = ~uint64_t{0};
  if (!words_.empty()) words_.back() &= LastWordMask(size_);
  count_ = size_;
}

void Bitfield::ClearAll() {
  for (uint64_t& w : words_) w = 0;
  count_ = 0;
}

uint32_t Bitfield::NextSet(uint32_t from) const { return NextWhere(from, 0); }

uint32_t Bitfield::NextClear(uint32_t from) const { return NextWhere(from, ~uint64_t{0}); }

uint32_t Bitfield::NextWhere(uint32_t from, uint64_t flip) const {
  if (from >= size_) return size_;
  size_t w = from / 64;
  // Drop the bits before `from` in its word: they sit above it (piece 0 is the top bit).
  uint64_t bits = (words_[w] ^ flip) & (~uint64_t{0} >> (from % 64));
  while (bits == 0) {
    if (++w == words_.size()) return size_;
    bits = words_[w] ^ flip;
  }
  // A clear spare bit past the last piece reads as "clear" too: cap at size().
  const uint64_t index = w * 64 + static_cast<uint64_t>(__builtin_clzll(bits));
  return index < size_ ? static_cast<uint32_t>(index) : size_;
}

void Bitfield::Recount() {
  count_ = 0;
  for (uint64_t w : words_) count_ += Bitfield::PopCount(w);
}

absl::Status Bitfield::Combine(const Bitfield& other, const char* name,
                               uint64_t (*op)(uint64_t mine, uint64_t theirs)) {
  if (other.size_ != size_) {
    return absl::InvalidArgumentError(absl::StrCat("bitfields of different sizes: ", name, " of ",
                                                   size_, " and ", other.size_, " pieces"));
  }
  for (size_t i = 0; i < words_.size(); ++i) words_[i] = op(words_[i], other.words_[i]);
  Recount();
  return absl::OkStatus();
}

// Spare bits stay zero in all three: they are zero in both operands.
absl::Status Bitfield::UnionWith(const Bitfield& other) {
  return Combine(other, "union", [](uint64_t a, uint64_t b) { return a | b; });
}

absl::Status Bitfield::IntersectWith(const Bitfield& other) {
  return Combine(other, "intersection", [](uint64_t a, uint64_t b) { return a & b; });
}

absl::Status Bitfield::Subtract(const Bitfield& other) {
  return Combine(other, "difference", [](uint64_t a, uint64_t b) { return a & ~b; });
}

bool Bitfield::IsSubsetOf(const Bitfield& other) const {
  if (other.size_ != size_) return false;
  for (size_t i = 0; i < words_.size(); ++i) {
    if ((words_[i] & ~other.words_[i]) != 0) return false;
  }
  return true;
}

}  // namespace swarm::bt
