#include "rpc/token_source.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::rpc {
namespace {

using ::testing::HasSubstr;

class TokenSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/token_source_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    unsetenv(kAuthTokenEnv);
  }
  void TearDown() override {
    unsetenv(kAuthTokenEnv);
    std::system(("rm -rf " + dir_).c_str());
  }
  std::string Write(const std::string& name, const std::string& content, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(TokenSourceTest, ReadsTheFirstLineOfAPrivateFile) {
  absl::StatusOr<std::string> token = ReadAuthTokenFile(Write("t", "s3cret \nignored\n", 0600));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "s3cret");
}

TEST_F(TokenSourceTest, RefusesAFileOthersCanRead) {
  absl::StatusOr<std::string> token = ReadAuthTokenFile(Write("t", "s3cret\n", 0644));
  EXPECT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr("0644"));
  EXPECT_THAT(token.status().message(), HasSubstr("chmod 600"));
  EXPECT_FALSE(ReadAuthTokenFile(Write("g", "s3cret\n", 0640)).ok());
}

TEST_F(TokenSourceTest, RefusesEmptyMissingAndSpecialFiles) {
  EXPECT_THAT(ReadAuthTokenFile(Write("e", "\n", 0600)).status().message(), HasSubstr("is empty"));
  EXPECT_THAT(ReadAuthTokenFile(dir_ + "/none").status().message(), HasSubstr("cannot open"));
  EXPECT_THAT(ReadAuthTokenFile(dir_).status().message(), HasSubstr("not a regular file"));
  // A FIFO is refused without waiting for a writer.
  const std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(ReadAuthTokenFile(fifo).status().message(), HasSubstr("not a regular file"));
  EXPECT_THAT(ReadAuthTokenFile(Write("big", std::string(5000, 'x'), 0600)).status().message(),
              HasSubstr("larger than"));
}

TEST_F(TokenSourceTest, TheFileWinsOverTheEnvironmentWhichWinsOverNothing) {
  EXPECT_EQ(*LoadAuthToken(""), "");
  setenv(kAuthTokenEnv, "from-env", 1);
  EXPECT_EQ(*LoadAuthToken(""), "from-env");
  EXPECT_EQ(*LoadAuthToken(Write("t", "from-file\n", 0600)), "from-file");
}

TEST_F(TokenSourceTest, ATokenIsRequiredBeyondLoopback) {
  for (const char* local :
       {"127.0.0.1:0", "127.1.2.3:7000", "[::1]:7000", "localhost:7000", "unix:/tmp/x.sock"}) {
    EXPECT_TRUE(ListensOnLoopbackOnly(local)) << local;
    EXPECT_TRUE(RequireTokenBeyondLoopback(local, "").ok()) << local;
  }
  for (const char* open :
       {"0.0.0.0:7000", "[::]:7000", "10.0.0.1:7000", ":7000", "example.org:1"}) {
    EXPECT_FALSE(ListensOnLoopbackOnly(open)) << open;
    const absl::Status s = RequireTokenBeyondLoopback(open, "");
    EXPECT_FALSE(s.ok()) << open;
    EXPECT_THAT(s.message(), HasSubstr("refusing to listen on")) << open;
    EXPECT_TRUE(RequireTokenBeyondLoopback(open, "t").ok()) << open;
  }
}

TEST_F(TokenSourceTest, RandomTokensAreLongAndDiffer) {
  absl::StatusOr<std::string> a = MakeRandomToken();
  absl::StatusOr<std::string> b = MakeRandomToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace swarm::rpc
