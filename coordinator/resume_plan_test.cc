#include "coordinator/resume_plan.h"

#include "bt/bencode.h"
#include "bt/sha1.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::coordinator {
namespace {

using storage::FileStamp;
using ::testing::HasSubstr;

constexpr char kDir[] = "/data";

// "t/a" (10 bytes), "t/b" (25), "t/c" (8); 16-byte pieces: piece 0 = a + the start of b,
// piece 1 = inside b, piece 2 = the end of b + c.
bt::Metainfo Torrent() {
  auto file = [](const char* name, int64_t length) {
    bt::BValue::Dict f;
    f["length"] = length;
    f["path"] = bt::BValue::List{name};
    return bt::BValue(f);
  };
  bt::BValue::Dict info;
  info["name"] = "t";
  info["piece length"] = 16;
  info["files"] = bt::BValue::List{file("a", 10), file("b", 25), file("c", 8)};
  info["pieces"] = std::string(20 * 3, 'x');
  bt::BValue::Dict root;
  root["info"] = info;
  auto m = bt::ParseMetainfo(bt::Encode(bt::BValue(root)));
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

std::vector<FileStamp> OnDisk() {
  return {FileStamp{true, 10, 111}, FileStamp{true, 25, 222}, FileStamp{true, 8, 333}};
}

// The record a job left: pieces 0 and 2 verified, the files as OnDisk().
ResumeRecord Record(const bt::Metainfo& m) {
  ResumeRecord r;
  r.info_hash = std::string(bt::AsBytes(m.info_hash));
  r.output_dir = kDir;
  r.verified = bt::Bitfield(3);
  r.verified.Set(0);
  r.verified.Set(2);
  r.files = OnDisk();
  return r;
}

std::string Bits(const bt::Bitfield& b) {
  std::string s;
  for (uint32_t i = 0; i < b.size(); ++i) s += b.Get(i) ? '1' : '0';
  return s;
}

TEST(ResumePlanTest, NewFilesNeedNoCheck) {
  const bt::Metainfo m = Torrent();
  const ResumePlan plan =
      PlanResume(m, kDir, std::vector<FileStamp>(3), absl::NotFoundError("none"), false);
  EXPECT_EQ(Bits(plan.verified), "000");
  EXPECT_EQ(Bits(plan.to_check), "000");
  EXPECT_THAT(plan.summary, HasSubstr("nothing to check"));
}

TEST(ResumePlanTest, MatchingRecordIsTrustedWithoutACheck) {
  const bt::Metainfo m = Torrent();
  const ResumePlan plan = PlanResume(m, kDir, OnDisk(), Record(m), false);
  EXPECT_EQ(Bits(plan.verified), "101");
  EXPECT_EQ(Bits(plan.to_check), "000") << "piece 1 was not verified, and nothing was written";
  EXPECT_THAT(plan.summary, HasSubstr("matches"));
}

TEST(ResumePlanTest, MissingRecordChecksWhatHoldsData) {
  const bt::Metainfo m = Torrent();
  std::vector<FileStamp> found = OnDisk();
  found[2] = FileStamp{};  // c absent: piece 2 still has b's bytes to check
  const ResumePlan plan = PlanResume(m, kDir, found, absl::NotFoundError("none"), false);
  EXPECT_EQ(Bits(plan.verified), "000");
  EXPECT_EQ(Bits(plan.to_check), "111");
  EXPECT_THAT(plan.summary, HasSubstr("no resume record"));
}

TEST(ResumePlanTest, FilesNoUsableRecordNamesAreForeign) {
  const bt::Metainfo m = Torrent();
  std::vector<FileStamp> found = OnDisk();
  found[2] = FileStamp{};  // absent: nobody's
  ResumePlan plan = PlanResume(m, kDir, found, absl::NotFoundError("none"), false);
  EXPECT_FALSE(plan.had_record);
  EXPECT_EQ(plan.foreign, (std::vector<bool>{true, true, false}));
  EXPECT_THAT(plan.summary, HasSubstr("2 files not made by this download"));
  // A record from before "b" existed: "b" is not the download's, "a" is (stale or not).
  ResumeRecord record = Record(m);
  record.files[0].mtime_ns = 1;
  record.files[1] = FileStamp{};
  plan = PlanResume(m, kDir, OnDisk(), record, false);
  EXPECT_TRUE(plan.had_record);
  EXPECT_EQ(plan.foreign, (std::vector<bool>{false, true, false}));
  // --recheck trusts no stamp, but still knows which files the download made.
  plan = PlanResume(m, kDir, OnDisk(), Record(m), true);
  EXPECT_EQ(Bits(plan.to_check), "111");
  EXPECT_EQ(plan.foreign, (std::vector<bool>{false, false, false}));
  // A record of another folder says nothing about these files.
  record = Record(m);
  record.output_dir = "/elsewhere";
  plan = PlanResume(m, kDir, OnDisk(), record, false);
  EXPECT_FALSE(plan.had_record);
  EXPECT_EQ(plan.foreign, (std::vector<bool>{true, true, true}));
}

TEST(ResumePlanTest, CorruptRecordChecksEverything) {
  const bt::Metainfo m = Torrent();
  const ResumePlan plan =
      PlanResume(m, kDir, OnDisk(), absl::DataLossError("resume record: bad"), false);
  EXPECT_EQ(Bits(plan.verified), "000");
  EXPECT_EQ(Bits(plan.to_check), "111");
  EXPECT_THAT(plan.summary, HasSubstr("unusable"));
}

TEST(ResumePlanTest, StaleSizeDistrustsEveryPieceOfThatFile) {
  const bt::Metainfo m = Torrent();
  std::vector<FileStamp> found = OnDisk();
  found[1].size = 24;  // b, which every piece touches
  const ResumePlan plan = PlanResume(m, kDir, found, Record(m), false);
  EXPECT_EQ(Bits(plan.verified), "000");
  EXPECT_EQ(Bits(plan.to_check), "111");
}

TEST(ResumePlanTest, StaleModificationTimeDistrustsOnlyThatFilesPieces) {
  const bt::Metainfo m = Torrent();
  std::vector<FileStamp> found = OnDisk();
  found[2].mtime_ns += 1;  // c: only piece 2
  const ResumePlan plan = PlanResume(m, kDir, found, Record(m), false);
  EXPECT_EQ(Bits(plan.verified), "100");
  EXPECT_EQ(Bits(plan.to_check), "001");
  EXPECT_THAT(plan.summary, HasSubstr("matches 2 of 3 files"));
}

TEST(ResumePlanTest, DeletedFileMakesItsPiecesCheckedOrFetched) {
  const bt::Metainfo m = Torrent();
  std::vector<FileStamp> found = OnDisk();
  found[0] = FileStamp{};  // a deleted: piece 0 is half gone, its b half is checked
  const ResumePlan plan = PlanResume(m, kDir, found, Record(m), false);
  EXPECT_EQ(Bits(plan.verified), "001");
  EXPECT_EQ(Bits(plan.to_check), "100");
}

TEST(ResumePlanTest, RecordOfAnotherFolderOrTorrentIsNotUsed) {
  const bt::Metainfo m = Torrent();
  ResumeRecord other_dir = Record(m);
  other_dir.output_dir = "/elsewhere";
  EXPECT_EQ(Bits(PlanResume(m, kDir, OnDisk(), other_dir, false).to_check), "111");
  ResumeRecord other_torrent = Record(m);
  other_torrent.info_hash[0] ^= 1;
  EXPECT_EQ(Bits(PlanResume(m, kDir, OnDisk(), other_torrent, false).to_check), "111");
  ResumeRecord other_size = Record(m);
  other_size.files.pop_back();
  EXPECT_EQ(Bits(PlanResume(m, kDir, OnDisk(), other_size, false).to_check), "111");
}

TEST(ResumePlanTest, RecheckIgnoresAMatchingRecord) {
  const bt::Metainfo m = Torrent();
  const ResumePlan plan = PlanResume(m, kDir, OnDisk(), Record(m), /*recheck=*/true);
  EXPECT_EQ(Bits(plan.verified), "000");
  EXPECT_EQ(Bits(plan.to_check), "111");
  EXPECT_THAT(plan.summary, HasSubstr("--recheck"));
}

}  // namespace
}  // namespace swarm::coordinator
