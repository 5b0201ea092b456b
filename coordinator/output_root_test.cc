#include "coordinator/output_root.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "base/testing/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

using ::swarm::testing::MakeTempDir;
using ::testing::HasSubstr;

TEST(OutputRootTest, NoRootAllowsAnywhere) { EXPECT_TRUE(CheckInsideOutputRoot("", "/tmp").ok()); }

TEST(OutputRootTest, TheRootAndFoldersBelowItAreInside) {
  const std::string root = MakeTempDir("root");
  ASSERT_EQ(mkdir((root + "/a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/a/b").c_str(), 0755), 0);
  EXPECT_TRUE(CheckInsideOutputRoot(root, root).ok());
  EXPECT_TRUE(CheckInsideOutputRoot(root, root + "/a/b").ok());
  EXPECT_TRUE(CheckInsideOutputRoot(root + "/", root + "/a/../a").ok());
}

TEST(OutputRootTest, EscapesAreRefused) {
  const std::string root = MakeTempDir("root");
  const std::string outside = MakeTempDir("outside");
  ASSERT_EQ(symlink(outside.c_str(), (root + "/link").c_str()), 0);
  ASSERT_EQ(mkdir((root + "-sibling").c_str(), 0755), 0);  // shares the root's name as prefix
  for (const std::string& dir :
       {outside, root + "/..", root + "/link", root + "-sibling", std::string("/")}) {
    const absl::Status s = CheckInsideOutputRoot(root, dir);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << dir << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr("--output_root")) << dir;
  }
  EXPECT_THAT(CheckInsideOutputRoot(root, root + "/missing").message(),
              HasSubstr("cannot resolve output_dir"));
}

}  // namespace
}  // namespace swarm::coordinator
