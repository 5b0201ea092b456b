#include "bt/bencode.h"

#include <algorithm>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/absl_view.h"

namespace swarm::bt {
namespace {

using ::swarm::Absl;

absl::Status ErrorAt(size_t offset, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("bencode: ", Absl(what), " at byte ", offset));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parses the decimal digits of an integer body or a string length starting at `pos`, strict
// BEP 3: no leading zeros. Stops at the first non-digit. Sets *overflow when the value does
// not fit in `limit`.
struct DigitsResult {
  uint64_t value = 0;
  size_t end = 0;
  bool overflow = false;
};

DigitsResult ParseDigits(std::string_view in, size_t pos, uint64_t limit) {
  DigitsResult r;
  r.end = pos;
  while (r.end < in.size() && IsDigit(in[r.end])) {
    const uint64_t d = static_cast<uint64_t>(in[r.end] - '0');
    if (d > limit || r.value > (limit - d) / 10) r.overflow = true;
    if (!r.overflow) r.value = r.value * 10 + d;
    ++r.end;
  }
  return r;
}

}  // namespace

absl::StatusOr<BDocument> BDocument::Parse(std::string_view input, const DecodeLimits& limits) {
  return Decode(input, limits, /*prefix=*/false);
}

absl::StatusOr<BDocument> BDocument::ParsePrefix(std::string_view input,
                                                 const DecodeLimits& limits) {
  // Only the first max_input_bytes can hold the value; what follows is the caller's.
  return Decode(input.substr(0, std::min(input.size(), limits.max_input_bytes)), limits,
                /*prefix=*/true);
}

absl::StatusOr<BDocument> BDocument::Decode(std::string_view input, const DecodeLimits& limits,
                                            bool prefix) {
  if (input.size() > limits.max_input_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("bencode: input of ", input.size(),
                                                   " bytes exceeds the limit of ",
                                                   limits.max_input_bytes));
  }
  if (input.size() >= std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("bencode: input too large");
  }
  if (input.empty()) return ErrorAt(0, "empty input");

  BDocument doc;
  doc.input_ = std::make_unique<std::string>(input);
  const std::string_view in = *doc.input_;
  std::vector<Token>& tokens = doc.tokens_;

  // Open containers: token index, and for dictionaries whether the next value is a key plus
  // the previous key (for order and duplicate checks).
  struct Open {
    uint32_t token;
    bool expect_key;
    std::string_view last_key;
    bool has_last_key;
  };
  std::vector<Open> stack;
  size_t pos = 0;

  while (true) {
    if (pos >= in.size()) {
      return ErrorAt(pos, stack.empty() ? "unexpected end of input"
                                        : "unterminated list or dictionary");
    }
    const char c = in[pos];

    if (c == 'e') {
      if (stack.empty()) return ErrorAt(pos, "unexpected 'e'");
      Open& top = stack.back();
      if (tokens[top.token].type == BType::kDict && !top.expect_key) {
        return ErrorAt(pos, "dictionary key without a value");
      }
      Token& t = tokens[top.token];
      t.end = static_cast<uint32_t>(pos + 1);
      t.next = static_cast<uint32_t>(tokens.size());
      stack.pop_back();
      ++pos;
    } else {
      if (tokens.size() >= limits.max_tokens) {
        return ErrorAt(pos, absl::StrCat("more than ", limits.max_tokens, " values"));
      }
      const bool is_key = !stack.empty() && tokens[stack.back().token].type == BType::kDict &&
                          stack.back().expect_key;
      if (is_key && !IsDigit(c)) return ErrorAt(pos, "dictionary key is not a string");

      Token t{};
      t.begin = static_cast<uint32_t>(pos);
      if (c == 'i') {
        size_t p = pos + 1;
        const bool negative = p < in.size() && in[p] == '-';
        if (negative) ++p;
        if (p >= in.size()) return ErrorAt(p, "unterminated integer");
        if (!IsDigit(in[p])) return ErrorAt(p, "integer without digits");
        const uint64_t limit = negative ? uint64_t{1} << 63
                                        : uint64_t{std::numeric_limits<int64_t>::max()};
        const DigitsResult d = ParseDigits(in, p, limit);
        if (d.overflow) return ErrorAt(pos, "integer does not fit in 64 bits");
        if (in[p] == '0' && d.end - p > 1) return ErrorAt(p, "integer with a leading zero");
        if (negative && d.value == 0) return ErrorAt(pos, "negative zero");
        if (d.end >= in.size()) return ErrorAt(d.end, "unterminated integer");
        if (in[d.end] != 'e') return ErrorAt(d.end, "invalid character in integer");
        t.type = BType::kInt;
        t.int_value = negative ? static_cast<int64_t>(0 - d.value) : static_cast<int64_t>(d.value);
        pos = d.end + 1;
      } else if (IsDigit(c)) {
        const DigitsResult d = ParseDigits(in, pos, in.size());
        if (c == '0' && d.end - pos > 1) return ErrorAt(pos, "string length with a leading zero");
        if (d.overflow || d.end >= in.size()) {
          return ErrorAt(pos, "string length runs past the end of input");
        }
        if (in[d.end] != ':') return ErrorAt(d.end, "expected ':' after string length");
        const size_t start = d.end + 1;
        if (d.value > in.size() - start) {
          return ErrorAt(pos, absl::StrCat("string of ", d.value,
                                           " bytes runs past the end of input"));
        }
        t.type = BType::kString;
        t.str_begin = static_cast<uint32_t>(start);
        pos = start + d.value;
      } else if (c == 'l' || c == 'd') {
        if (stack.size() >= static_cast<size_t>(limits.max_depth)) {
          return ErrorAt(pos, absl::StrCat("nesting deeper than ", limits.max_depth));
        }
        t.type = c == 'l' ? BType::kList : BType::kDict;
        ++pos;
      } else {
        return ErrorAt(pos, absl::StrCat("unexpected character 0x",
                                         absl::Hex(static_cast<unsigned char>(c))));
      }

      const uint32_t index = static_cast<uint32_t>(tokens.size());
      if (t.type == BType::kInt || t.type == BType::kString) {
        t.end = static_cast<uint32_t>(pos);
        t.next = index + 1;
      }
      tokens.push_back(t);

      if (is_key) {
        Open& top = stack.back();
        const std::string_view key = in.substr(t.str_begin, t.end - t.str_begin);
        if (top.has_last_key) {
          if (key == top.last_key) {
            return ErrorAt(t.begin, absl::StrCat("duplicate dictionary key \"",
                                                 absl::CEscape(Absl(key)), "\""));
          }
          if (key < top.last_key && !limits.allow_unsorted_keys) {
            return ErrorAt(t.begin, absl::StrCat("dictionary key \"", absl::CEscape(Absl(key)),
                                                 "\" is out of sorted order"));
          }
        }
        top.last_key = key;
        top.has_last_key = true;
        top.expect_key = false;
      } else if (!stack.empty() && tokens[stack.back().token].type == BType::kDict) {
        stack.back().expect_key = true;
      }
      if (t.type == BType::kList || t.type == BType::kDict) {
        stack.push_back(Open{index, true, {}, false});
      }
    }

    if (stack.empty()) break;
  }
  if (prefix) {
    doc.input_->resize(pos);  // the document holds its value, not what followed it
  } else if (pos != in.size()) {
    return ErrorAt(pos, "trailing data after the value");
  }
  return doc;
}

BType BView::type() const { return doc_->tokens_[index_].type; }

int64_t BView::int_value() const {
  const auto& t = doc_->tokens_[index_];
  return t.type == BType::kInt ? t.int_value : 0;
}

std::string_view BView::string_value() const {
  const auto& t = doc_->tokens_[index_];
  if (t.type != BType::kString) return {};
  return std::string_view(*doc_->input_).substr(t.str_begin, t.end - t.str_begin);
}

std::string_view BView::raw() const {
  const auto& t = doc_->tokens_[index_];
  return std::string_view(*doc_->input_).substr(t.begin, t.end - t.begin);
}

size_t BView::offset() const { return doc_->tokens_[index_].begin; }

std::vector<BView> BView::items() const {
  std::vector<BView> out;
  const auto& tokens = doc_->tokens_;
  const auto& t = tokens[index_];
  if (t.type == BType::kList) {
    for (uint32_t i = index_ + 1; i < t.next; i = tokens[i].next) out.push_back(BView(doc_, i));
  } else if (t.type == BType::kDict) {
    for (uint32_t i = index_ + 1; i < t.next; i = tokens[tokens[i].next].next) {
      out.push_back(BView(doc_, tokens[i].next));
    }
  }
  return out;
}

std::vector<std::pair<std::string_view, BView>> BView::dict_items() const {
  std::vector<std::pair<std::string_view, BView>> out;
  const auto& tokens = doc_->tokens_;
  const auto& t = tokens[index_];
  if (t.type != BType::kDict) return out;
  for (uint32_t i = index_ + 1; i < t.next; i = tokens[tokens[i].next].next) {
    out.emplace_back(BView(doc_, i).string_value(), BView(doc_, tokens[i].next));
  }
  return out;
}

std::optional<BView> BView::Find(std::string_view key) const {
  const auto& tokens = doc_->tokens_;
  const auto& t = tokens[index_];
  if (t.type != BType::kDict) return std::nullopt;
  // Linear: dictionaries in torrents and tracker replies hold a handful of keys.
  for (uint32_t i = index_ + 1; i < t.next; i = tokens[tokens[i].next].next) {
    if (BView(doc_, i).string_value() == key) return BView(doc_, tokens[i].next);
  }
  return std::nullopt;
}

BValue BValue::From(BView view) {
  switch (view.type()) {
    case BType::kInt:
      return BValue(view.int_value());
    case BType::kString:
      return BValue(std::string(view.string_value()));
    case BType::kList: {
      List list;
      for (const BView& item : view.items()) list.push_back(From(item));
      return BValue(std::move(list));
    }
    case BType::kDict: {
      Dict dict;
      for (const auto& [key, value] : view.dict_items()) dict[std::string(key)] = From(value);
      return BValue(std::move(dict));
    }
  }
  return BValue();
}

void EncodeTo(const BValue& value, std::string* out) {
  if (const auto* i = std::get_if<int64_t>(&value.value)) {
    absl::StrAppend(out, "i", *i, "e");
  } else if (const auto* s = std::get_if<std::string>(&value.value)) {
    absl::StrAppend(out, s->size(), ":", *s);
  } else if (const auto* list = std::get_if<BValue::List>(&value.value)) {
    out->push_back('l');
    for (const BValue& item : *list) EncodeTo(item, out);
    out->push_back('e');
  } else if (const auto* dict = std::get_if<BValue::Dict>(&value.value)) {
    out->push_back('d');
    for (const auto& [key, item] : *dict) {
      absl::StrAppend(out, key.size(), ":", key);
      EncodeTo(item, out);
    }
    out->push_back('e');
  }
}

std::string Encode(const BValue& value) {
  std::string out;
  EncodeTo(value, &out);
  return out;
}

}  // namespace swarm::bt
