#include "storage/content_files.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

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

// A torrent of 1 MiB pieces over "big/a" (1.5 MiB: its end is not page-aligned) and
// "big/b" (2 MiB + 100 bytes, starting mid-piece and mid-page).
bt::Metainfo BigTwoFiles() {
  auto file = [](const char* name, int64_t length) {
    bt::BValue::Dict f;
    f["length"] = length;
    f["path"] = bt::BValue::List{name};
    return bt::BValue(f);
  };
  bt::BValue::Dict info;
  info["name"] = "big";
  info["piece length"] = 1 << 20;
  info["files"] = bt::BValue::List{file("a", 3 << 19), file("b", (2 << 20) + 100)};
  info["pieces"] = std::string(20 * 4, 'x');
  bt::BValue::Dict root;
  root["info"] = info;
  return *bt::ParseMetainfo(bt::Encode(bt::BValue(root)));
}

// Page-aligned memory, as the workers' piece buffers are.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t n)
      : bytes(static_cast<char*>(std::aligned_alloc(kDirectIoAlignment, n + kDirectIoAlignment))) {}
  ~AlignedBuffer() { std::free(bytes); }
  char* bytes;
};

// Pages of `path` in the page cache.
size_t ResidentPages(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  struct stat st;
  fstat(fd, &st);
  void* map = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  const size_t pages = (st.st_size + 4095) / 4096;
  std::vector<unsigned char> in_core(pages);
  mincore(map, st.st_size, in_core.data());
  munmap(map, st.st_size);
  close(fd);
  size_t n = 0;
  for (unsigned char c : in_core) n += c & 1;
  return n;
}

TEST(ContentFilesTest, DirectIoMovesAlignedPiecesPastThePageCacheAndEveryByteArrives) {
  const std::string dir = MakeTempDir("content");
  const bt::Metainfo m = BigTwoFiles();
  ASSERT_TRUE(ContentFiles::Open(m, dir, ContentMode::kCreate).ok());
  const int probe = open((dir + "/big/a").c_str(), O_RDONLY | O_DIRECT);
  if (probe < 0) GTEST_SKIP() << "no O_DIRECT on this filesystem";
  close(probe);
  auto files = ContentFiles::Open(m, dir, ContentMode::kOpenExisting, 128, /*direct_io=*/true);
  ASSERT_TRUE(files.ok()) << files.status();
  std::string content;
  std::mt19937 rng(7);
  for (uint64_t i = 0; i < m.total_length; ++i) content.push_back(static_cast<char>(rng()));
  const bt::PieceLayout layout = m.layout();
  AlignedBuffer buffer(1 << 20);
  // Pieces 0 and 3 from page-aligned memory, 1 from memory that is not.
  for (uint32_t p : {0u, 3u}) {
    std::memcpy(buffer.bytes, content.data() + layout.piece_offset(p), layout.piece_size(p));
    ASSERT_TRUE((*files)->WritePiece(p, std::string_view(buffer.bytes, layout.piece_size(p))).ok());
  }
  // Piece 0 lies in "a" page for page: it went to the disk, not into the page cache (tmpfs,
  // which accepts O_DIRECT since Linux 6.6, has no disk: its pages are the file).
  struct statfs fs;
  ASSERT_EQ(statfs(dir.c_str(), &fs), 0);
  if (fs.f_type != TMPFS_MAGIC) {
    EXPECT_EQ(ResidentPages(dir + "/big/a"), 0u) << "piece 0 was written through the page cache";
  }
  ASSERT_TRUE((*files)->WritePiece(1, content.substr(1 << 20, 1 << 20)).ok());
  std::memcpy(buffer.bytes + 5, content.data() + (2 << 20), 1 << 20);  // misaligned on purpose
  ASSERT_TRUE((*files)->WritePiece(2, std::string_view(buffer.bytes + 5, 1 << 20)).ok());

  EXPECT_EQ(ReadWholeFile(dir + "/big/a") + ReadWholeFile(dir + "/big/b"), content);
  // Whole pieces read back through both paths, the short last one too.
  for (uint32_t p = 0; p < 4; ++p) {
    std::memset(buffer.bytes, 0x55, 1 << 20);
    ASSERT_TRUE((*files)->ReadBlock(p, 0, layout.piece_size(p), buffer.bytes).ok());
    EXPECT_EQ(std::string(buffer.bytes, layout.piece_size(p)),
              content.substr(layout.piece_offset(p), layout.piece_size(p)))
        << "piece " << p;
  }
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

// Someone's longer file at a torrent's path is theirs: never cut down unless asked.
TEST(ContentFilesTest, NeverCutsALongerFileDownUnlessAskedToOverwrite) {
  const std::string dir = MakeTempDir("content");
  ASSERT_EQ(mkdir((dir + "/root").c_str(), 0755), 0);
  const std::string a = dir + "/root/a";  // the torrent's "a" has 10 bytes
  const std::string precious(4096, 'p');
  {
    const int fd = open(a.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_EQ(write(fd, precious.data(), precious.size()), 4096);
    close(fd);
  }
  auto files = ContentFiles::Open(MultiFile(), dir, ContentMode::kCreate);
  ASSERT_FALSE(files.ok());
  EXPECT_THAT(files.status().message(), HasSubstr("root/a already exists and is longer"));
  EXPECT_EQ(ReadWholeFile(a), precious);
  files = ContentFiles::Open(MultiFile(), dir, ContentMode::kCreateOverwrite);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(ReadWholeFile(a), precious.substr(0, 10));
}

// Nor extended: a download makes its files at their full length, so a shorter one is not
// a partial download of this torrent.
TEST(ContentFilesTest, NeverExtendsAShorterFileUnlessAskedToOverwrite) {
  const std::string dir = MakeTempDir("content");
  ASSERT_EQ(mkdir((dir + "/root").c_str(), 0755), 0);
  const std::string a = dir + "/root/a";  // the torrent's "a" has 10 bytes
  {
    const int fd = open(a.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_EQ(write(fd, "mine", 4), 4);
    close(fd);
  }
  auto files = ContentFiles::Open(MultiFile(), dir, ContentMode::kCreate);
  ASSERT_FALSE(files.ok());
  EXPECT_THAT(files.status().message(),
              HasSubstr("root/a already exists and is shorter than the torrent's file (4 bytes"));
  EXPECT_EQ(ReadWholeFile(a), "mine");
  files = ContentFiles::Open(MultiFile(), dir, ContentMode::kCreateOverwrite);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(ReadWholeFile(a), std::string("mine") + std::string(6, '\0'));
}

TEST(ContentFilesTest, RefusesAFifoWithoutBlocking) {
  const std::string dir = MakeTempDir("content");
  ASSERT_EQ(mkdir((dir + "/root").c_str(), 0755), 0);
  ASSERT_EQ(mkfifo((dir + "/root/z").c_str(), 0644), 0);
  for (ContentMode mode :
       {ContentMode::kCreate, ContentMode::kOpenExisting, ContentMode::kReadOnly}) {
    auto files = ContentFiles::Open(MultiFile(), dir, mode);
    ASSERT_FALSE(files.ok());
    EXPECT_THAT(files.status().message(), HasSubstr("root/z is not a regular file"));
  }
}

// A second name of a file elsewhere: writing it would change that file.
TEST(ContentFilesTest, RefusesToWriteAFileWithOtherHardLinks) {
  const std::string dir = MakeTempDir("content");
  const std::string elsewhere = MakeTempDir("content") + "/victim";
  {
    const int fd = open(elsewhere.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_EQ(write(fd, "12345678", 8), 8);  // as long as the torrent's "z"
    close(fd);
  }
  ASSERT_TRUE(ContentFiles::Open(MultiFile(), dir, ContentMode::kCreate).ok());
  ASSERT_EQ(unlink((dir + "/root/z").c_str()), 0);
  ASSERT_EQ(link(elsewhere.c_str(), (dir + "/root/z").c_str()), 0);
  for (ContentMode mode : {ContentMode::kCreate, ContentMode::kOpenExisting}) {
    auto files = ContentFiles::Open(MultiFile(), dir, mode);
    ASSERT_FALSE(files.ok());
    EXPECT_THAT(files.status().message(), HasSubstr("root/z has 2 names"));
  }
  EXPECT_EQ(ReadWholeFile(elsewhere), "12345678");
  // Only reading it (seeding) is harmless.
  EXPECT_TRUE(ContentFiles::Open(MultiFile(), dir, ContentMode::kReadOnly).ok());
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
