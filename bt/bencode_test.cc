#include "bt/bencode.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(std::string_view input, const DecodeLimits& limits = DecodeLimits()) {
  auto doc = BDocument::Parse(input, limits);
  if (doc.ok()) return "OK";
  return std::string(doc.status().message());
}

TEST(BencodeTest, Integers) {
  auto doc = BDocument::Parse("i-42e");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_TRUE(doc->root().is_int());
  EXPECT_EQ(doc->root().int_value(), -42);

  EXPECT_EQ(BDocument::Parse("i0e")->root().int_value(), 0);
  EXPECT_EQ(BDocument::Parse("i9223372036854775807e")->root().int_value(), INT64_MAX);
  EXPECT_EQ(BDocument::Parse("i-9223372036854775808e")->root().int_value(), INT64_MIN);
}

TEST(BencodeTest, StrictIntegerRules) {
  EXPECT_THAT(ErrorOf("i03e"), HasSubstr("leading zero at byte 1"));
  EXPECT_THAT(ErrorOf("i-0e"), HasSubstr("negative zero at byte 0"));
  EXPECT_THAT(ErrorOf("ie"), HasSubstr("integer without digits at byte 1"));
  EXPECT_THAT(ErrorOf("i-e"), HasSubstr("integer without digits at byte 2"));
  EXPECT_THAT(ErrorOf("i12"), HasSubstr("unterminated integer at byte 3"));
  EXPECT_THAT(ErrorOf("i1x2e"), HasSubstr("invalid character in integer at byte 2"));
  EXPECT_THAT(ErrorOf("i9223372036854775808e"), HasSubstr("does not fit in 64 bits"));
  EXPECT_THAT(ErrorOf("i-9223372036854775809e"), HasSubstr("does not fit in 64 bits"));
  EXPECT_THAT(ErrorOf("i123456789012345678901234567890e"), HasSubstr("does not fit"));
}

TEST(BencodeTest, Strings) {
  auto doc = BDocument::Parse("4:spam");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->root().string_value(), "spam");
  EXPECT_EQ(doc->root().raw(), "4:spam");
  EXPECT_EQ(BDocument::Parse("0:")->root().string_value(), "");
  const std::string binary("3:\0\xff\n", 5);
  EXPECT_EQ(BDocument::Parse(binary)->root().string_value(), std::string("\0\xff\n", 3));
}

TEST(BencodeTest, StrictStringRules) {
  EXPECT_THAT(ErrorOf("04:spam"), HasSubstr("leading zero at byte 0"));
  EXPECT_THAT(ErrorOf("5:spam"), HasSubstr("runs past the end of input at byte 0"));
  EXPECT_THAT(ErrorOf("4spam"), HasSubstr("expected ':' after string length at byte 1"));
  EXPECT_THAT(ErrorOf("99999999999999999999999999:x"), HasSubstr("runs past the end"));
  EXPECT_THAT(ErrorOf("18446744073709551615:x"), HasSubstr("runs past the end"));
  EXPECT_THAT(ErrorOf("4"), HasSubstr("runs past the end"));
}

TEST(BencodeTest, ListsAndDicts) {
  auto doc = BDocument::Parse("d3:bar4:spam3:fooi42e4:listli1e1:xdee5:zzzzzlee");
  ASSERT_TRUE(doc.ok()) << doc.status();
  BView root = doc->root();
  ASSERT_TRUE(root.is_dict());
  EXPECT_EQ(root.Find("bar")->string_value(), "spam");
  EXPECT_EQ(root.Find("foo")->int_value(), 42);
  EXPECT_FALSE(root.Find("missing").has_value());
  std::vector<BView> list = root.Find("list")->items();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].int_value(), 1);
  EXPECT_EQ(list[1].string_value(), "x");
  EXPECT_TRUE(list[2].is_dict());
  EXPECT_TRUE(list[2].dict_items().empty());
  EXPECT_EQ(root.Find("list")->raw(), "li1e1:xdee");
  EXPECT_EQ(root.Find("zzzzz")->raw(), "le");
  EXPECT_EQ(root.dict_items().size(), 4u);
  EXPECT_EQ(root.items().size(), 4u);
  EXPECT_EQ(root.Find("foo")->offset(), 17u);
}

TEST(BencodeTest, DictionaryRules) {
  EXPECT_THAT(ErrorOf("di1e3:fooe"), HasSubstr("dictionary key is not a string at byte 1"));
  EXPECT_THAT(ErrorOf("d3:fooi1e3:fooi2ee"), HasSubstr("duplicate dictionary key \"foo\" at byte 9"));
  EXPECT_THAT(ErrorOf("d3:zzzi1e3:aaai2ee"), HasSubstr("\"aaa\" is out of sorted order at byte 9"));
  EXPECT_THAT(ErrorOf("d3:fooe"), HasSubstr("dictionary key without a value at byte 6"));
  DecodeLimits lax;
  lax.allow_unsorted_keys = true;
  EXPECT_EQ(ErrorOf("d3:zzzi1e3:aaai2ee", lax), "OK");
  EXPECT_THAT(ErrorOf("d3:fooi1e3:fooi2ee", lax), HasSubstr("duplicate"));
  // Key order is by raw bytes, so a prefix sorts first.
  EXPECT_EQ(ErrorOf("d1:ai1e2:aai2ee"), "OK");
}

TEST(BencodeTest, Structure) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("empty input"));
  EXPECT_THAT(ErrorOf("i1ei2e"), HasSubstr("trailing data after the value at byte 3"));
  EXPECT_THAT(ErrorOf("l"), HasSubstr("unterminated list or dictionary at byte 1"));
  EXPECT_THAT(ErrorOf("li1e"), HasSubstr("unterminated"));
  EXPECT_THAT(ErrorOf("e"), HasSubstr("unexpected 'e' at byte 0"));
  EXPECT_THAT(ErrorOf("x"), HasSubstr("unexpected character 0x78 at byte 0"));
  EXPECT_THAT(ErrorOf("l\xff" "e"), HasSubstr("unexpected character 0xff at byte 1"));
}

TEST(BencodeTest, DepthLimitWithoutRecursion) {
  // A million nested lists: rejected at the limit, and no stack overflow on the way.
  const std::string deep = std::string(1'000'000, 'l') + std::string(1'000'000, 'e');
  EXPECT_THAT(ErrorOf(deep), HasSubstr("nesting deeper than 100 at byte 100"));
  const std::string ok = std::string(100, 'l') + std::string(100, 'e');
  EXPECT_EQ(ErrorOf(ok), "OK");
}

TEST(BencodeTest, TokenAndSizeLimits) {
  DecodeLimits limits;
  limits.max_tokens = 3;
  EXPECT_EQ(ErrorOf("li1ei2ee", limits), "OK");
  EXPECT_THAT(ErrorOf("li1ei2ei3ee", limits), HasSubstr("more than 3 values at byte 7"));
  limits = DecodeLimits();
  limits.max_input_bytes = 4;
  EXPECT_THAT(ErrorOf("4:spam", limits), HasSubstr("exceeds the limit of 4"));
}

TEST(BencodeTest, RawSpanOfNestedValueIsExact) {
  const std::string input = "d4:infod6:lengthi5e4:name1:xe3:zzzi0ee";
  auto doc = BDocument::Parse(input);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->root().Find("info")->raw(), "d6:lengthi5e4:name1:xe");
}

TEST(BencodeTest, DocumentSurvivesMove) {
  auto doc = BDocument::Parse("d1:a3:xyze");
  ASSERT_TRUE(doc.ok());
  BDocument moved = std::move(*doc);
  EXPECT_EQ(moved.root().Find("a")->string_value(), "xyz");
}

TEST(BencodeTest, RoundTripIsByteExact) {
  for (const char* input : {"i-7e", "0:", "le", "de", "d1:ad1:bli1ei2eeee",
                            "d8:announce3:url4:infod6:lengthi1e4:name1:n12:piece lengthi4e"
                            "6:pieces20:aaaaaaaaaaaaaaaaaaaaee"}) {
    auto doc = BDocument::Parse(input);
    ASSERT_TRUE(doc.ok()) << input << ": " << doc.status();
    EXPECT_EQ(Encode(BValue::From(doc->root())), input);
  }
}

TEST(BencodeTest, EncodeSortsKeys) {
  BValue::Dict dict;
  dict["zeta"] = 1;
  dict["alpha"] = BValue::List{BValue("x"), BValue(-3)};
  EXPECT_EQ(Encode(BValue(dict)), "d5:alphal1:xi-3ee4:zetai1ee");
}

TEST(BencodeTest, PrefixStopsAtTheEndOfTheFirstValue) {
  absl::StatusOr<BDocument> doc = BDocument::ParsePrefix("d1:ai1ee\x00\xffrest");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->root().raw(), "d1:ai1ee");
  EXPECT_EQ(doc->root().Find("a")->int_value(), 1);
  // The limit bounds the value, not what follows it.
  DecodeLimits limits;
  limits.max_input_bytes = 8;
  EXPECT_TRUE(BDocument::ParsePrefix("d1:ai1ee" + std::string(100, 'x'), limits).ok());
  EXPECT_FALSE(BDocument::ParsePrefix("d1:ai12ee", limits).ok());
  EXPECT_FALSE(BDocument::ParsePrefix("d1:ai1e").ok());  // unterminated
  EXPECT_FALSE(BDocument::Parse("d1:ai1eeX").ok());      // Parse still wants it whole
}

TEST(BencodeTest, WrongTypeAccessorsAreSafe) {
  auto doc = BDocument::Parse("li1e4:spame");
  ASSERT_TRUE(doc.ok());
  BView root = doc->root();
  EXPECT_EQ(root.int_value(), 0);
  EXPECT_EQ(root.string_value(), "");
  EXPECT_FALSE(root.Find("x").has_value());
  EXPECT_TRUE(root.dict_items().empty());
  EXPECT_TRUE(root.items()[0].items().empty());
}

}  // namespace
}  // namespace swarm::bt
