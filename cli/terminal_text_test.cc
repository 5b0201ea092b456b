#include "cli/terminal_text.h"

#include "gtest/gtest.h"

namespace swarm::cli {
namespace {

TEST(TerminalTextTest, ControlCharactersAreShownAsQuestionMarks) {
  EXPECT_EQ(TerminalSafe("plain name.iso"), "plain name.iso");
  EXPECT_EQ(TerminalSafe("a\x1b]0;owned\x07z"), "a?]0;owned?z");
  EXPECT_EQ(TerminalSafe("tab\tnew\nline\rdel\x7f"), "tab?new?line?del?");
  EXPECT_EQ(TerminalSafe("csi\xc2\x9b"
                         "2J"),
            "csi?2J");  // U+009B
}

TEST(TerminalTextTest, PrintableUnicodeAndStrayBytesPass) {
  EXPECT_EQ(TerminalSafe("caf\xc3\xa9 \xc2\xa0 \xe6\x97\xa5"), "caf\xc3\xa9 \xc2\xa0 \xe6\x97\xa5");
  EXPECT_EQ(TerminalSafe("\xff\xc2"), "\xff\xc2");  // not UTF-8, but no control either
}

}  // namespace
}  // namespace swarm::cli
