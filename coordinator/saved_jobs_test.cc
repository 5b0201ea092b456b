#include "coordinator/saved_jobs.h"

#include <sys/stat.h>

#include <fstream>

#include "base/testing/files.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

TEST(SavedJobsTest, SavedJobsComeBackWithoutRecheckUntilForgotten) {
  const std::string dir = testing::MakeTempDir("saved_jobs");
  pb::SubmitJobRequest request;
  request.set_torrent("d4:infod4:name1:xee");
  request.set_output_dir("/data/out");
  request.set_mode(pb::DOWNLOAD_THEN_SEED);
  request.set_recheck(true);
  ASSERT_TRUE(SaveJob(dir, "bb", request).ok());
  request.set_output_dir("/data/other");
  ASSERT_TRUE(SaveJob(dir, "aa", request).ok());

  struct stat st;
  ASSERT_EQ(stat((dir + "/bb.job").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a job names folders and holds a torrent: private";

  std::vector<SavedJob> jobs = LoadSavedJobs(dir);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].path, dir + "/aa.job");
  EXPECT_TRUE(jobs[1].error.ok()) << jobs[1].error;
  EXPECT_EQ(jobs[1].request.output_dir(), "/data/out");
  EXPECT_EQ(jobs[1].request.mode(), pb::DOWNLOAD_THEN_SEED);
  EXPECT_EQ(jobs[1].request.torrent(), "d4:infod4:name1:xee");
  EXPECT_FALSE(jobs[1].request.recheck()) << "a restart trusts the resume record";

  ForgetJob(dir, "aa");
  ForgetJob(dir, "aa");  // twice: no harm
  jobs = LoadSavedJobs(dir);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].request.output_dir(), "/data/out");
}

TEST(SavedJobsTest, ACorruptFileIsReportedAndAMissingFolderHasNoJobs) {
  const std::string dir = testing::MakeTempDir("saved_jobs");
  std::ofstream(dir + "/cc.job") << "\xff\xff\xff garbage";
  std::ofstream(dir + "/cc.resume") << "not a job";
  std::vector<SavedJob> jobs = LoadSavedJobs(dir);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].error.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(LoadSavedJobs(dir + "/missing").empty());
}

}  // namespace
}  // namespace swarm::coordinator
