#include "cli/args.h"

#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace swarm::cli {
namespace {

TEST(ArgsTest, FlagValueTakesBothForms) {
  const char* args[] = {"--workers=3", "--workers", "4", "--workers", "-o"};
  char** argv = const_cast<char**>(args);
  int i = 0;
  EXPECT_STREQ(FlagValue(5, argv, &i, "--workers"), "3");
  EXPECT_EQ(i, 0);
  i = 1;
  EXPECT_STREQ(FlagValue(5, argv, &i, "--workers"), "4");
  EXPECT_EQ(i, 2);
  i = 4;
  EXPECT_EQ(FlagValue(5, argv, &i, "--workers"), nullptr);  // another flag
  i = 3;
  EXPECT_STREQ(FlagValue(4, argv, &i, "--workers"), nullptr);  // value missing
}

TEST(ArgsTest, SplitParent) {
  using Parts = std::pair<std::string, std::string>;
  EXPECT_EQ(SplitParent("a/b/"), (Parts{"a", "b"}));
  EXPECT_EQ(SplitParent("b"), (Parts{".", "b"}));
  EXPECT_EQ(SplitParent("/b"), (Parts{"/", "b"}));
  EXPECT_EQ(SplitParent("/x/y//"), (Parts{"/x", "y"}));
}

}  // namespace
}  // namespace swarm::cli
