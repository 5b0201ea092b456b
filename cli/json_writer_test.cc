#include "cli/json_writer.h"

#include "gtest/gtest.h"

namespace swarm::cli {
namespace {

TEST(JsonWriterTest, EscapesSpecials) {
  EXPECT_EQ(JsonString("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\u000a\\u0001\"");
}

TEST(JsonWriterTest, KeepsValidUtf8AndReplacesInvalid) {
  EXPECT_EQ(JsonString("caf\xC3\xA9 \xF0\x9F\x90\x9D"), "\"caf\xC3\xA9 \xF0\x9F\x90\x9D\"");
  EXPECT_EQ(JsonString("\xFF"), "\"\xEF\xBF\xBD\"");
  EXPECT_EQ(JsonString("\xC3"), "\"\xEF\xBF\xBD\"");          // truncated sequence
  EXPECT_EQ(JsonString("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong '/'
  EXPECT_EQ(JsonString("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
}

TEST(JsonWriterTest, Fields) {
  EXPECT_EQ(JsonField("n", uint64_t{5}), "\"n\":5");
  EXPECT_EQ(JsonField("b", true), "\"b\":true");
  EXPECT_EQ(JsonField("s", "x"), "\"s\":\"x\"");
}

}  // namespace
}  // namespace swarm::cli
