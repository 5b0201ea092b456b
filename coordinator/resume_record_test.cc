#include "coordinator/resume_record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/testing/files.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

using ::swarm::testing::MakeTempDir;
using ::swarm::testing::ReadWholeFile;
using ::swarm::testing::WriteWholeFile;

ResumeRecord Sample() {
  ResumeRecord r;
  r.info_hash = std::string(20, '\x07');
  r.output_dir = "/data/out";
  r.verified = bt::Bitfield(11);
  r.verified.Set(0);
  r.verified.Set(10);
  r.files = {storage::FileStamp{true, 4096, 1'700'000'000'123'456'789},
             storage::FileStamp{false, 0, 0}};
  return r;
}

void ExpectSame(const ResumeRecord& a, const ResumeRecord& b) {
  EXPECT_EQ(a.info_hash, b.info_hash);
  EXPECT_EQ(a.output_dir, b.output_dir);
  EXPECT_EQ(a.verified.ToBytes(), b.verified.ToBytes());
  EXPECT_EQ(a.verified.size(), b.verified.size());
  EXPECT_EQ(a.files, b.files);
}

TEST(ResumeRecordTest, EncodesAndDecodes) {
  absl::StatusOr<ResumeRecord> back = DecodeResumeRecord(EncodeResumeRecord(Sample()));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(*back, Sample());
}

TEST(ResumeRecordTest, RefusesAnythingButAWholeRecord) {
  const std::string good = EncodeResumeRecord(Sample());
  EXPECT_TRUE(absl::IsDataLoss(DecodeResumeRecord("").status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeResumeRecord(good.substr(0, good.size() - 1)).status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeResumeRecord("i42e").status()));
  EXPECT_TRUE(absl::IsDataLoss(DecodeResumeRecord("de").status()));
  // Each field wrong in turn.
  std::string other = good;
  other.replace(other.find("swarm resume 1"), 14, "swarm resume 9");
  EXPECT_TRUE(absl::IsDataLoss(DecodeResumeRecord(other).status()));
  other = good;
  other.replace(other.find("11:piece counti11e"), 18, "11:piece counti17e");
  EXPECT_TRUE(absl::IsDataLoss(DecodeResumeRecord(other).status())) << "bitfield too short";
  other = good;
  other.replace(other.find("li0ei0ei0ee"), 11, "li2ei0ei0ee");
  EXPECT_TRUE(absl::IsDataLoss(DecodeResumeRecord(other).status())) << "exists is 0 or 1";
  other = good;
  other.replace(other.find("li0ei0ei0ee"), 11, "li0ei-1ei0e");
  EXPECT_TRUE(absl::IsDataLoss(DecodeResumeRecord(other).status()));
}

TEST(ResumeRecordTest, SavesAtomicallyAndLoads) {
  const std::string dir = MakeTempDir("resume");
  const std::string path = dir + "/x.resume";
  EXPECT_TRUE(absl::IsNotFound(LoadResumeRecord(path).status()));
  ASSERT_TRUE(SaveResumeRecord(path, Sample()).ok());
  absl::StatusOr<ResumeRecord> loaded = LoadResumeRecord(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(*loaded, Sample());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(stat((path + ".tmp").c_str(), &st), 0) << "the temporary file is renamed away";

  // A second save replaces the first whole.
  ResumeRecord r = Sample();
  r.verified.SetAll();
  ASSERT_TRUE(SaveResumeRecord(path, r).ok());
  EXPECT_EQ(ReadWholeFile(path), EncodeResumeRecord(r));

  // A half-written temporary file left by a crash changes nothing.
  ASSERT_TRUE(WriteWholeFile(path + ".tmp", "d5:files"));
  loaded = LoadResumeRecord(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->verified.All());
}

TEST(ResumeRecordTest, CorruptFileIsDataLoss) {
  const std::string dir = MakeTempDir("resume");
  const std::string path = dir + "/x.resume";
  ASSERT_TRUE(WriteWholeFile(path, EncodeResumeRecord(Sample()).substr(0, 30)));
  absl::StatusOr<ResumeRecord> loaded = LoadResumeRecord(path);
  EXPECT_TRUE(absl::IsDataLoss(loaded.status())) << loaded.status();
  ASSERT_TRUE(WriteWholeFile(path, std::string(1000, '\xff')));
  EXPECT_TRUE(absl::IsDataLoss(LoadResumeRecord(path).status()));
}

TEST(ResumeRecordTest, SaveIntoAMissingFolderFails) {
  EXPECT_FALSE(SaveResumeRecord(MakeTempDir("resume") + "/no/such/x.resume", Sample()).ok());
}

}  // namespace
}  // namespace swarm::coordinator
