#include "bt/metainfo.h"

#include <sys/resource.h>

#include <cstdlib>
#include <string>

#include "base/testing/files.h"
#include "bt/bencode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ReadTestData(const std::string& name) {
  return swarm::testing::ReadWholeFile("bt/testdata/" + name);
}

// Info-hashes as transmission-show printed them for the files in testdata/ (an independent
// implementation, so these check our hashing over the raw info bytes).
TEST(MetainfoTest, MktorrentSingleFile) {
  auto m = ParseMetainfo(ReadTestData("mk_single.torrent"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ToHex(m->info_hash), "539dd34db3614155a724d96d56ac5f6de3764888");
  EXPECT_EQ(m->name, "single.bin");
  EXPECT_FALSE(m->multi_file);
  EXPECT_EQ(m->total_length, 100000u);
  EXPECT_EQ(m->piece_length, 32768u);
  EXPECT_EQ(m->num_pieces(), 4u);
  ASSERT_EQ(m->files.size(), 1u);
  EXPECT_THAT(m->files[0].path, ElementsAre("single.bin"));
  EXPECT_EQ(m->comment, "made by mktorrent");
  EXPECT_THAT(m->created_by, HasSubstr("mktorrent"));
  EXPECT_TRUE(m->creation_date.has_value());
  EXPECT_FALSE(m->is_private);
  ASSERT_EQ(m->trackers.size(), 2u);
  EXPECT_THAT(m->trackers[0], ElementsAre("http://tracker.example/announce"));
  EXPECT_THAT(m->trackers[1],
              ElementsAre("udp://tracker2.example:6969", "udp://tracker3.example:6969"));
  EXPECT_EQ(Sha1(m->info_bytes), m->info_hash);
}

TEST(MetainfoTest, MktorrentMultiFilePrivateWithEmptyFile) {
  auto m = ParseMetainfo(ReadTestData("mk_multi.torrent"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ToHex(m->info_hash), "6d64775be66d21eb904f8e788774fb34b59fe4f6");
  EXPECT_TRUE(m->multi_file);
  EXPECT_TRUE(m->is_private);
  ASSERT_EQ(m->files.size(), 4u);
  EXPECT_EQ(m->files[1].RelativePath(), "multi/empty");
  EXPECT_EQ(m->files[1].length, 0u);
  EXPECT_EQ(m->files[3].RelativePath(), "multi/sub/deeper/c.bin");
  EXPECT_EQ(m->files[3].offset, 52000u);
  EXPECT_EQ(m->total_length, 52005u);
}

TEST(MetainfoTest, TransmissionSingleFile) {
  auto m = ParseMetainfo(ReadTestData("tr_single.torrent"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ToHex(m->info_hash), "278cc5df212997f10c9e28646e9f37057572eb8f");
  EXPECT_EQ(m->comment, "made by transmission");
  EXPECT_EQ(m->total_length, 100000u);
}

TEST(MetainfoTest, TransmissionMultiFilePieceToFileMap) {
  auto m = ParseMetainfo(ReadTestData("tr_multi.torrent"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ToHex(m->info_hash), "99e21fac3bfe1a41b09a3febd71eea7353f4fe89");
  ASSERT_EQ(m->files.size(), 3u);
  ASSERT_EQ(m->trackers.size(), 2u);  // transmission writes one tier per -t
  EXPECT_EQ(m->PieceFiles(0),
            (std::vector<FileSlice>{{0, 0, 12000, 0}, {1, 0, 20768, 12000}}));
  EXPECT_EQ(m->PieceFiles(1),
            (std::vector<FileSlice>{{1, 20768, 19232, 0}, {2, 0, 5, 19232}}));
  EXPECT_EQ(m->layout().piece_size(1), 52005u - 32768u);
}

// A small valid torrent, built as a value so each test can break one thing.
BValue::Dict ValidInfo() {
  BValue::Dict info;
  info["name"] = "payload";
  info["piece length"] = 16384;
  info["length"] = 20000;
  info["pieces"] = std::string(40, 'h');
  return info;
}

std::string Torrent(BValue::Dict info) {
  BValue::Dict root;
  root["announce"] = "http://t.example/announce";
  root["info"] = std::move(info);
  return Encode(BValue(root));
}

BValue::Dict MultiInfo(std::vector<BValue::List> paths) {
  BValue::Dict info = ValidInfo();
  info.erase("length");
  BValue::List files;
  for (auto& p : paths) {
    BValue::Dict f;
    f["length"] = 10000;
    f["path"] = std::move(p);
    files.push_back(std::move(f));
  }
  info["files"] = std::move(files);
  return info;
}

std::string ErrorOf(const std::string& bytes) {
  auto m = ParseMetainfo(bytes);
  return m.ok() ? "OK" : std::string(m.status().message());
}

TEST(MetainfoTest, ValidBuiltTorrentParses) {
  EXPECT_EQ(ErrorOf(Torrent(ValidInfo())), "OK");
  EXPECT_EQ(ErrorOf(Torrent(MultiInfo({{"a"}, {"dir", "b"}}))), "OK");
}

TEST(MetainfoTest, RejectsTraversalInEveryForm) {
  for (const char* bad : {"..", ".", "", "/etc", "a/b", "a\\b"}) {
    std::string error = ErrorOf(Torrent(MultiInfo({{"ok"}, {"dir", bad}})));
    EXPECT_THAT(error, HasSubstr("file 1 path component 1")) << bad;
  }
  EXPECT_THAT(ErrorOf(Torrent(MultiInfo({{std::string("a\0b", 3)}}))), HasSubstr("NUL byte"));
  EXPECT_THAT(ErrorOf(Torrent(MultiInfo({{std::string(300, 'x')}}))),
              HasSubstr("longer than 255"));
  for (const char* bad : {"..", "/abs", "", "x/../../y"}) {
    BValue::Dict info = ValidInfo();
    info["name"] = bad;
    EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("info \"name\"")) << bad;
  }
}

TEST(MetainfoTest, RejectsConflictingPaths) {
  EXPECT_THAT(ErrorOf(Torrent(MultiInfo({{"a"}, {"a"}}))), HasSubstr("used twice"));
  EXPECT_THAT(ErrorOf(Torrent(MultiInfo({{"a"}, {"a", "b"}}))), HasSubstr("runs through file"));
  EXPECT_THAT(ErrorOf(Torrent(MultiInfo({{"a", "b"}, {"a"}}))), HasSubstr("used twice"));
  EXPECT_THAT(ErrorOf(Torrent(MultiInfo({{}}))), HasSubstr("file 0 has an empty path"));
}

TEST(MetainfoTest, RejectsBadPieceTable) {
  BValue::Dict info = ValidInfo();
  info["pieces"] = std::string(39, 'h');
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("39 bytes long, not a multiple of 20"));
  info["pieces"] = std::string(60, 'h');
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("holds 3 hashes but 20000 bytes"));
  info = ValidInfo();
  info["piece length"] = 0;
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("piece length 0 is outside"));
  info["piece length"] = -16384;
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("is outside"));
  info["piece length"] = int64_t{1} << 40;
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("is outside"));
}

TEST(MetainfoTest, RejectsWrongTypesAndMissingKeys) {
  EXPECT_THAT(ErrorOf("le"), HasSubstr("top level is not a dictionary"));
  EXPECT_THAT(ErrorOf("d8:announce1:xe"), HasSubstr("torrent has no \"info\""));
  EXPECT_THAT(ErrorOf("d4:info3:abce"), HasSubstr("\"info\" is not a dictionary"));
  BValue::Dict info = ValidInfo();
  info["length"] = "big";
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("\"length\" is not a non-negative integer"));
  info = ValidInfo();
  info["length"] = -1;
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("non-negative"));
  info = ValidInfo();
  info["name"] = 5;
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("info \"name\" is not a string"));
  info = ValidInfo();
  info.erase("length");
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("neither \"length\" nor \"files\""));
  info = MultiInfo({{"a"}});
  info["length"] = 1;
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("both"));
  info = ValidInfo();
  info["length"] = 0;
  info["pieces"] = "";
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("no content"));
}

TEST(MetainfoTest, RejectsHugeFileLengthsWithoutOverflow) {
  BValue::Dict info = MultiInfo({{"a"}, {"b"}});
  auto& files = std::get<BValue::List>(info["files"].value);
  std::get<BValue::Dict>(files[0].value)["length"] = INT64_MAX;
  std::get<BValue::Dict>(files[1].value)["length"] = INT64_MAX;
  EXPECT_THAT(ErrorOf(Torrent(info)), HasSubstr("overflows"));
}

TEST(MetainfoTest, CorruptBencodeGivesItsOffset) {
  std::string bytes = Torrent(ValidInfo());
  EXPECT_THAT(ErrorOf(bytes.substr(0, bytes.size() - 5)), HasSubstr("metainfo: bencode:"));
  EXPECT_THAT(ErrorOf(bytes.substr(0, 30)), HasSubstr("at byte"));
}

TEST(MetainfoTest, InfoHashIsOverRawBytesNotReencoding) {
  // Unknown keys inside info (here "x-extra") must be hashed exactly as they appear.
  BValue::Dict info = ValidInfo();
  info["x-extra"] = BValue::List{BValue(1), BValue("two")};
  const std::string bytes = Torrent(info);
  auto m = ParseMetainfo(bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->info_hash, Sha1(Encode(BValue(info))));
}

TEST(MetainfoTest, AnnounceListTiersAndFallback) {
  BValue::Dict root;
  root["announce"] = "http://fallback/announce";
  root["info"] = ValidInfo();
  root["announce-list"] = BValue::List{BValue::List{BValue("udp://a:1"), BValue("udp://b:2")},
                                       BValue::List{}, BValue::List{BValue(7)},
                                       BValue::List{BValue("udp://a:1"), BValue("http://c/")}};
  auto m = ParseMetainfo(Encode(BValue(root)));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->trackers.size(), 2u);
  EXPECT_THAT(m->trackers[0], ElementsAre("udp://a:1", "udp://b:2"));
  EXPECT_THAT(m->trackers[1], ElementsAre("http://c/"));

  root["announce-list"] = BValue::List{};
  m = ParseMetainfo(Encode(BValue(root)));
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->trackers.size(), 1u);
  EXPECT_THAT(m->trackers[0], ElementsAre("http://fallback/announce"));
}

TEST(MetainfoTest, PadFilesAreMarked) {
  BValue::Dict info = MultiInfo({{"a"}, {".pad", "10000"}});
  auto& files = std::get<BValue::List>(info["files"].value);
  std::get<BValue::Dict>(files[1].value)["attr"] = "p";
  auto m = ParseMetainfo(Torrent(info));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->files[0].pad);
  EXPECT_TRUE(m->files[1].pad);
}

// ASan and TSan reserve terabytes of address space for their shadow memory: under them no
// address-space limit can be tested.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SWARM_METAINFO_TEST_SHADOW_MEMORY
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    defined(SWARM_METAINFO_TEST_SHADOW_MEMORY)
constexpr bool kShadowMemory = true;
#else
constexpr bool kShadowMemory = false;
#endif

// In a death test's child: whether `torrent` parses, with `files` files, with at most 1 GiB
// of address space for the whole process.
bool ParsesWithinOneGiB(const std::string& torrent, size_t files) {
  const rlimit limit{1ul << 30, 1ul << 30};
  if (setrlimit(RLIMIT_AS, &limit) != 0) return false;
  absl::StatusOr<Metainfo> m = ParseMetainfo(torrent);
  return m.ok() && m->files.size() == files;
}

// Thousands of files, each 64 components of 255 bytes deep (a 63 MB .torrent): parsing it
// costs memory in proportion to its size. Checking the paths once kept every folder's full
// path, some 2 GB for this torrent.
TEST(MetainfoTest, DeepLongPathsCostMemoryInProportionToTheirSize) {
  if (kShadowMemory) {
    GTEST_SKIP() << "a sanitizer's shadow memory does not fit under an address-space limit";
  }
  constexpr int kFiles = 3800;
  const std::string component(255, 'c');
  std::string files;
  for (int i = 0; i < kFiles; ++i) {
    std::string first = std::to_string(i);
    first.resize(255, 'f');
    files += "d6:lengthi1e4:pathl255:" + first;
    for (int j = 1; j < 64; ++j) files += "255:" + component;
    files += "ee";
  }
  const std::string torrent = "d4:infod5:filesl" + files +
                              "e4:name1:x12:piece lengthi16384e6:pieces20:" + std::string(20, 'h') +
                              "ee";
  EXPECT_EXIT(std::_Exit(ParsesWithinOneGiB(torrent, kFiles) ? 0 : 1), ::testing::ExitedWithCode(0),
              "");
}

}  // namespace
}  // namespace swarm::bt
