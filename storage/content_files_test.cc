#include "storage/content_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/testing/files.h"
#include "bt/bencode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::storage {
namespace {

using ::swarm::testing::MakeTempDir;
using ::swarm::testing::ReadWholeFile;
using ::testing::HasSubstr;

// A multi-file torrent: "root/a" (10 bytes), "root/d/e/b" (0), "root/d/c" (25), pad (5),
// "root/z" (8); piece length 16, so pieces straddle files.
bt::Metainfo MultiFile() {
  auto file = [](std::vector<std::string> path, int64_t length, bool pad = false) {
    bt::BValue::List p;
    for (auto& c : path) p.emplace_back(c);
    bt::BValue::Dict f;
    f["length"] = length;
    f["path"] = p;
    if (pad) f["attr"] = "p";
    return bt::BValue(f);
  };
  bt::BValue::Dict info;
  info["name"] = "root";
  info["piece length"] = 16;
  info["files"] = bt::BValue::List{file({"a"}, 10), file({"d", "e", "b"}, 0), file({"d", "c"}, 25),
                                   file({".pad", "5"}, 5, true), file({"z"}, 8)};
  info["pieces"] = std::string(20 * 3, 'x');
  bt::BValue::Dict root;
  root["info"] = info;
  auto m = bt::ParseMetainfo(bt::Encode(bt::BValue(root)));
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

TEST(ContentFilesTest, CreatesTreeAndRoundTripsPiecesAcrossFiles) {
  const std::string dir = MakeTempDir("content");
  const bt::Metainfo m = MultiFile();
  auto files = ContentFiles::Open(m, dir, ContentMode::kCreate);
  ASSERT_TRUE(files.ok()) << files.status();

  struct stat st;
  ASSERT_EQ(stat((dir + "/root/d/c").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 25);
  ASSERT_EQ(stat((dir + "/root/d/e/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  EXPECT_NE(stat((dir + "/root/.pad/5").c_str(), &st), 0) << "padding files are not created";

  const std::string content = "0123456789abcdefghijklmnopqrstuvwxyPADDDhgfedcba";
  ASSERT_EQ(content.size(), 48u);
  for (uint32_t p = 0; p < 3; ++p) {
    ASSERT_TRUE((*files)->WritePiece(p, content.substr(p * 16, 16)).ok());
  }
  ASSERT_TRUE((*files)->Sync().ok());
  EXPECT_EQ(ReadWholeFile(dir + "/root/a"), "0123456789");
  EXPECT_EQ(ReadWholeFile(dir + "/root/d/c"), "abcdefghijklmnopqrstuvwxy");
  EXPECT_EQ(ReadWholeFile(dir + "/root/z"), "hgfedcba");

  std::string piece;
  ASSERT_TRUE((*files)->ReadPiece(1, &piece).ok());
  EXPECT_EQ(piece, content.substr(16, 16));
  ASSERT_TRUE((*files)->ReadPiece(2, &piece).ok());
  EXPECT_EQ(piece, "wxy" + std::string(5, '\0') + "hgfedcba");  // padding reads as zeros

  char block[6];
  ASSERT_TRUE((*files)->ReadBlock(0, 8, 6, block).ok());  // spans root/a and root/d/c
  EXPECT_EQ(std::string(block, 6), "89abcd");
  EXPECT_FALSE((*files)->ReadBlock(2, 10, 7, block).ok());  // past the piece's end
}

TEST(ContentFilesTest, ReopenKeepsDataAndExistingModeNeedsFiles) {
  const std::string dir = MakeTempDir("content");
  const bt::Metainfo m = MultiFile();
  EXPECT_THAT(
      std::string(ContentFiles::Open(m, dir, ContentMode::kOpenExisting).status().message()),
      HasSubstr("cannot open folder of root/a"));
  {
    auto files = ContentFiles::Open(m, dir, ContentMode::kCreate);
    ASSERT_TRUE(files.ok());
    ASSERT_TRUE((*files)->WritePiece(0, "ABCDEFGHIJKLMNOP").ok());
  }
  auto again = ContentFiles::Open(m, dir, ContentMode::kCreate);
  ASSERT_TRUE(again.ok());
  std::string piece;
  ASSERT_TRUE((*again)->ReadPiece(0, &piece).ok());
  EXPECT_EQ(piece, "ABCDEFGHIJKLMNOP");
  EXPECT_TRUE(ContentFiles::Open(m, dir, ContentMode::kOpenExisting).ok());
}

// What a job can skip checking: files it created now, or found empty, hold nothing.
TEST(ContentFilesTest, SaysWhetherAnyFileHeldDataBefore) {
  const std::string dir = MakeTempDir("content");
  const bt::Metainfo m = MultiFile();
  {
    auto files = ContentFiles::Open(m, dir, ContentMode::kCreate);
    ASSERT_TRUE(files.ok()) << files.status();
    EXPECT_FALSE((*files)->found_existing_data());  // all created now
  }
  {
    // Preallocated by the first open: bytes (zeros) that a check would have to read.
    auto files = ContentFiles::Open(m, dir, ContentMode::kCreate);
    ASSERT_TRUE(files.ok());
    EXPECT_TRUE((*files)->found_existing_data());
  }
  const std::string empty_dir = MakeTempDir("content");
  ASSERT_EQ(mkdir((empty_dir + "/root").c_str(), 0755), 0);
  ASSERT_EQ(close(open((empty_dir + "/root/a").c_str(), O_CREAT | O_WRONLY, 0644)), 0);
  auto files = ContentFiles::Open(m, empty_dir, ContentMode::kCreate);
  ASSERT_TRUE(files.ok());
  EXPECT_FALSE((*files)->found_existing_data());  // an empty file holds nothing either
  files = ContentFiles::Open(m, empty_dir, ContentMode::kOpenExisting);
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE((*files)->found_existing_data());  // not known: its bytes were never looked at
}

TEST(ContentFilesTest, StampsFilesAsFoundAndAsTheyAreNow) {
  const std::string dir = MakeTempDir("content");
  const bt::Metainfo m = MultiFile();
  std::vector<FileStamp> first;
  {
    auto files = ContentFiles::Open(m, dir, ContentMode::kCreate);
    ASSERT_TRUE(files.ok()) << files.status();
    // Created by this Open: absent as far as an earlier record is concerned.
    for (const FileStamp& s : (*files)->found()) EXPECT_FALSE(s.exists);
    first = (*files)->StampNow();
  }
  ASSERT_EQ(first.size(), 5u);
  EXPECT_TRUE(first[0].exists);
  EXPECT_EQ(first[0].size, 10u);
  EXPECT_EQ(first[2].size, 25u);
  EXPECT_FALSE(first[3].exists);  // padding: never on disk
  auto files = ContentFiles::Open(m, dir, ContentMode::kCreate);
  ASSERT_TRUE(files.ok());
  // Found as the first run left them (the empty file reads as absent: it holds nothing).
  EXPECT_EQ((*files)->found()[0], first[0]);
  EXPECT_EQ((*files)->found()[2], first[2]);
  EXPECT_EQ((*files)->found()[4], first[4]);
  // A write moves the modification time on: the stamp tells.
  struct timespec old_times[2] = {{0, 0}, {1'000'000, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (dir + "/root/z").c_str(), old_times, 0), 0);
  ASSERT_TRUE((*files)->WritePiece(2, std::string(16, 'q')).ok());  // c, pad and z
  const std::vector<FileStamp> now = (*files)->StampNow();
  EXPECT_NE(now[4].mtime_ns, int64_t{1'000'000} * 1'000'000'000);
  EXPECT_EQ(now[0], first[0]);  // untouched
  ASSERT_EQ(unlink((dir + "/root/a").c_str()), 0);
  EXPECT_FALSE((*files)->StampNow()[0].exists);
}

TEST(ContentFilesTest, RefusesSymlinkInsideOutputFolder) {
  const std::string dir = MakeTempDir("content");
  const std::string outside = MakeTempDir("content");
  ASSERT_EQ(mkdir((dir + "/root").c_str(), 0755), 0);
  ASSERT_EQ(symlink(outside.c_str(), (dir + "/root/d").c_str()), 0);
  auto files = ContentFiles::Open(MultiFile(), dir, ContentMode::kCreate);
  ASSERT_FALSE(files.ok());
  EXPECT_THAT(std::string(files.status().message()), HasSubstr("root/d"));
  struct stat st;
  EXPECT_NE(stat((outside + "/c").c_str(), &st), 0) << "wrote through a symlink";
}

TEST(ContentFilesTest, TinyDescriptorCacheStillWorks) {
  const std::string dir = MakeTempDir("content");
  auto files = ContentFiles::Open(MultiFile(), dir, ContentMode::kCreate, /*max_open_files=*/1);
  ASSERT_TRUE(files.ok());
  ASSERT_TRUE((*files)->WritePiece(2, "0123456789ABCDEF").ok());
  ASSERT_TRUE((*files)->WritePiece(0, "abcdefghijklmnop").ok());
  std::string piece;
  ASSERT_TRUE((*files)->ReadPiece(2, &piece).ok());
  EXPECT_EQ(piece, "012" + std::string(5, '\0') + "89ABCDEF");
  EXPECT_EQ(ReadWholeFile(dir + "/root/z"), "89ABCDEF");
  EXPECT_EQ(ReadWholeFile(dir + "/root/a"), "abcdefghij");
}

TEST(ContentFilesTest, RejectsWrongSizedPieces) {
  const std::string dir = MakeTempDir("content");
  auto files = ContentFiles::Open(MultiFile(), dir, ContentMode::kCreate);
  ASSERT_TRUE(files.ok());
  EXPECT_FALSE((*files)->WritePiece(0, "short").ok());
  EXPECT_FALSE((*files)->WritePiece(3, std::string(16, 'x')).ok());
  std::string piece;
  EXPECT_FALSE((*files)->ReadPiece(9, &piece).ok());
}

}  // namespace
}  // namespace swarm::storage
