// Files for tests: a fresh temporary folder, and a whole file read into a string or written
// from one.
//
//   const std::string dir = swarm::testing::MakeTempDir("job");   // $TEST_TMPDIR/job.XXXXXX
//   ASSERT_TRUE(swarm::testing::WriteWholeFile(dir + "/x", "..."));
//   EXPECT_EQ(swarm::testing::ReadWholeFile(dir + "/x"), "...");
#ifndef SWARM_BASE_TESTING_FILES_H_
#define SWARM_BASE_TESTING_FILES_H_

#include <string>

namespace swarm::testing {

// A new folder `<prefix>.XXXXXX` under $TEST_TMPDIR (else /tmp); empty if it cannot be made.
std::string MakeTempDir(const std::string& prefix);

// The file's bytes; empty if it cannot be read.
std::string ReadWholeFile(const std::string& path);

// Replaces the file's bytes (creating it); false if that failed.
bool WriteWholeFile(const std::string& path, const std::string& bytes);

}  // namespace swarm::testing

#endif  // SWARM_BASE_TESTING_FILES_H_
