// Bencode (BEP 3): a strict, non-recursive decoder over a flat token array, and an encoder.
//
// The decoder keeps every value's raw byte span, so the info-hash is taken over the exact
// bytes of the `info` dictionary in the file, never over a re-encoding. It enforces BEP 3
// strictly (no leading zeros, no "-0", lengths within the input, string keys in sorted order,
// no duplicate keys, nothing after the top-level value) and the limits in DecodeLimits; every
// error names what was wrong and at which byte offset.
//
//   SWARM_ASSIGN_OR_RETURN(bt::BDocument doc, bt::BDocument::Parse(bytes));
//   bt::BView root = doc.root();
//   std::optional<bt::BView> info = root.Find("info");
//   if (info && info->is_dict()) Sha1(info->raw());
//
// A BDocument owns a copy of its input; BViews point into it and live no longer than it.
#ifndef SWARM_BT_BENCODE_H_
#define SWARM_BT_BENCODE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace swarm::bt {

struct DecodeLimits {
  // Deepest nesting of lists and dictionaries accepted.
  int max_depth = 100;
  // Most values (integers, strings, lists, dictionaries, keys included) in one document.
  size_t max_tokens = 4'000'000;
  // Largest input accepted, in bytes.
  size_t max_input_bytes = 64u << 20;
  // Real-world tracker replies sometimes have unsorted keys; .torrent files must not.
  bool allow_unsorted_keys = false;
};

enum class BType : uint8_t { kInt, kString, kList, kDict };

class BDocument;

// A read-only handle to one decoded value. Cheap to copy.
class BView {
 public:
  BType type() const;
  bool is_int() const { return type() == BType::kInt; }
  bool is_string() const { return type() == BType::kString; }
  bool is_list() const { return type() == BType::kList; }
  bool is_dict() const { return type() == BType::kDict; }

  // Value of an integer; 0 for other types.
  int64_t int_value() const;
  // Bytes of a string; empty for other types.
  std::string_view string_value() const;
  // The value's exact bytes in the input, from its first to its last character.
  std::string_view raw() const;
  // Byte offset of the value in the input (for error messages).
  size_t offset() const;

  // Elements of a list, or the values of a dictionary (in file order); empty otherwise.
  std::vector<BView> items() const;
  // Key/value pairs of a dictionary in file order; empty otherwise.
  std::vector<std::pair<std::string_view, BView>> dict_items() const;
  // The value under `key` in a dictionary; nullopt when absent or not a dictionary.
  std::optional<BView> Find(std::string_view key) const;

 private:
  friend class BDocument;
  BView(const BDocument* doc, uint32_t index) : doc_(doc), index_(index) {}
  const BDocument* doc_;
  uint32_t index_;
};

class BDocument {
 public:
  // Decodes exactly one value spanning all of `input`.
  static absl::StatusOr<BDocument> Parse(std::string_view input,
                                         const DecodeLimits& limits = DecodeLimits());
  // Decodes the one value at the start of `input`, which may go on with other bytes (as
  // ut_metadata's data follows its dictionary): root().raw().size() is how many it took.
  // `limits.max_input_bytes` bounds the value, not `input`.
  static absl::StatusOr<BDocument> ParsePrefix(std::string_view input,
                                               const DecodeLimits& limits = DecodeLimits());

  BView root() const { return BView(this, 0); }

  BDocument(BDocument&&) = default;
  BDocument& operator=(BDocument&&) = default;

 private:
  friend class BView;
  struct Token {
    BType type;
    uint32_t begin;       // offset of the first byte of the value
    uint32_t end;         // offset one past the last byte of the value
    uint32_t next;        // index of the token after this value's subtree
    uint32_t str_begin;   // strings: offset of the payload
    int64_t int_value;    // integers
  };
  BDocument() = default;
  static absl::StatusOr<BDocument> Decode(std::string_view input, const DecodeLimits& limits,
                                          bool prefix);
  // Heap-held so that moving the document keeps string_views into it valid.
  std::unique_ptr<std::string> input_;
  std::vector<Token> tokens_;
};

// An owned bencode value, for building messages and for re-encoding.
struct BValue {
  using List = std::vector<BValue>;
  using Dict = std::map<std::string, BValue>;  // std::map keeps keys sorted as BEP 3 wants.
  std::variant<int64_t, std::string, List, Dict> value;

  BValue() : value(int64_t{0}) {}
  BValue(int64_t v) : value(v) {}                  // NOLINT(runtime/explicit)
  BValue(int v) : value(int64_t{v}) {}             // NOLINT(runtime/explicit)
  BValue(std::string v) : value(std::move(v)) {}   // NOLINT(runtime/explicit)
  BValue(const char* v) : value(std::string(v)) {} // NOLINT(runtime/explicit)
  BValue(List v) : value(std::move(v)) {}          // NOLINT(runtime/explicit)
  BValue(Dict v) : value(std::move(v)) {}          // NOLINT(runtime/explicit)

  // Deep copy of a decoded value.
  static BValue From(BView view);
};

// Canonical bencoding of `value` (dictionary keys sorted).
std::string Encode(const BValue& value);
// Appends the canonical bencoding of `value` to `out`.
void EncodeTo(const BValue& value, std::string* out);

}  // namespace swarm::bt

#endif  // SWARM_BT_BENCODE_H_
