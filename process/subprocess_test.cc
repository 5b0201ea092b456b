#include "process/subprocess.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "gtest/gtest.h"

namespace swarm::process {
namespace {

TEST(SubprocessTest, ReadsTheLineAServerPrints) {
  auto child = Subprocess::Start(
      {"sh", "-c", "echo starting; echo 'listening on 127.0.0.1:4242'; sleep 60"});
  ASSERT_TRUE(child.ok()) << child.status();
  auto line = (*child)->ReadLineMatching("listening on", absl::Seconds(10));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "listening on 127.0.0.1:4242");
  EXPECT_TRUE((*child)->running());
  const int status = (*child)->Stop(absl::Seconds(5));
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE((*child)->running());
}

TEST(SubprocessTest, EnvironmentIsInheritedWithOurVariablesSetAndNotOnTheCommandLine) {
  setenv("SUBPROCESS_TEST_KEPT", "kept", 1);
  setenv("SUBPROCESS_TEST_SECRET", "old", 1);
  SubprocessOptions options;
  options.env = {{"SUBPROCESS_TEST_SECRET", "s3cret"}};
  auto child = Subprocess::Start(
      {"sh", "-c",
       "echo \"vars $SUBPROCESS_TEST_KEPT $SUBPROCESS_TEST_SECRET $(env | grep -c "
       "SUBPROCESS_TEST_SECRET)\"; tr '\\0' ' ' < /proc/$$/cmdline; echo; sleep 60"},
      options);
  ASSERT_TRUE(child.ok()) << child.status();
  auto line = (*child)->ReadLineMatching("vars", absl::Seconds(10));
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "vars kept s3cret 1");  // replaced, not added twice
  auto cmdline = (*child)->ReadLineMatching("sh", absl::Seconds(10));
  ASSERT_TRUE(cmdline.ok()) << cmdline.status();
  EXPECT_EQ(cmdline->find("s3cret"), std::string::npos) << *cmdline;
  unsetenv("SUBPROCESS_TEST_KEPT");
  unsetenv("SUBPROCESS_TEST_SECRET");
}

TEST(SubprocessTest, ChildThatExitsEarlyIsAnError) {
  auto child = Subprocess::Start({"sh", "-c", "echo oops; exit 3"});
  ASSERT_TRUE(child.ok());
  auto line = (*child)->ReadLineMatching("listening on", absl::Seconds(10));
  EXPECT_EQ(line.status().code(), absl::StatusCode::kUnavailable);
  auto status = (*child)->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 3);
}

TEST(SubprocessTest, ChildIgnoringSigtermIsKilled) {
  auto child =
      Subprocess::Start({"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"});
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE((*child)->ReadLineMatching("ready", absl::Seconds(10)).ok());
  const int status = (*child)->Stop(absl::Milliseconds(200));
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(SubprocessTest, MissingProgramExits127) {
  auto child = Subprocess::Start({"/nonexistent/program"});
  ASSERT_TRUE(child.ok());
  auto status = (*child)->Wait(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 127);
}

}  // namespace
}  // namespace swarm::process
