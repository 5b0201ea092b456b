#include "bt/torrent_builder.h"

#include "bt/metainfo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(TorrentBuilderTest, DefaultPieceLengthBySize) {
  EXPECT_EQ(DefaultPieceLength(1000), 16u * 1024);
  EXPECT_EQ(DefaultPieceLength(100u << 20), 64u * 1024);
  EXPECT_EQ(DefaultPieceLength(uint64_t{4} << 30), 4u << 20);
  EXPECT_EQ(DefaultPieceLength(uint64_t{1} << 45), 16u << 20);
}

TEST(TorrentBuilderTest, SingleFileRoundTrips) {
  TorrentSpec spec;
  spec.name = "one.bin";
  spec.files = {{{}, 40000}};
  spec.piece_length = 16384;
  spec.piece_hashes = std::string(60, 'h');
  spec.trackers = {{"http://a/announce"}};
  spec.comment = "hi";
  spec.creation_date = 1700000000;
  auto bytes = BuildTorrent(spec);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto m = ParseMetainfo(*bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->multi_file);
  EXPECT_EQ(m->total_length, 40000u);
  EXPECT_EQ(m->comment, "hi");
  EXPECT_EQ(*m->creation_date, 1700000000);
  ASSERT_EQ(m->trackers.size(), 1u);
  EXPECT_EQ(bytes->find("announce-list"), std::string::npos);
}

TEST(TorrentBuilderTest, MultiFilePrivateWithTiers) {
  TorrentSpec spec;
  spec.name = "dir";
  spec.files = {{{"a"}, 10}, {{"sub", "b"}, 16384}};
  spec.piece_length = 16384;
  spec.piece_hashes = std::string(40, 'h');
  spec.trackers = {{"udp://x:1"}, {"http://y/a", "http://z/a"}};
  spec.is_private = true;
  auto m = ParseMetainfo(*BuildTorrent(spec));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->is_private);
  ASSERT_EQ(m->files.size(), 2u);
  EXPECT_EQ(m->files[1].RelativePath(), "dir/sub/b");
  EXPECT_THAT(m->trackers[1], ElementsAre("http://y/a", "http://z/a"));
}

TEST(TorrentBuilderTest, RefusesWhatCouldNotLoad) {
  TorrentSpec spec;
  spec.name = "x";
  spec.files = {{{".."}, 10}};
  spec.piece_length = 16384;
  spec.piece_hashes = std::string(20, 'h');
  EXPECT_THAT(std::string(BuildTorrent(spec).status().message()), HasSubstr("escape"));
  spec.files = {{{"ok"}, 10}};
  spec.piece_hashes = std::string(40, 'h');
  EXPECT_THAT(std::string(BuildTorrent(spec).status().message()), HasSubstr("hashes"));
  spec.files.clear();
  EXPECT_FALSE(BuildTorrent(spec).ok());
}

}  // namespace
}  // namespace swarm::bt
