#include "bt/file_map.h"

#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

TEST(FileMapTest, RangeInsideOneFile) {
  FileMap map({100, 200});
  EXPECT_EQ(map.total_length(), 300u);
  EXPECT_EQ(map.Slices(110, 50), (std::vector<FileSlice>{{1, 10, 50, 0}}));
}

TEST(FileMapTest, RangeAcrossFilesSkipsEmptyOnes) {
  FileMap map({100, 0, 0, 50, 200});
  EXPECT_EQ(map.Slices(90, 100),
            (std::vector<FileSlice>{{0, 90, 10, 0}, {3, 0, 50, 10}, {4, 0, 40, 60}}));
}

TEST(FileMapTest, RangeStartingAtAnEmptyFileBoundary) {
  FileMap map({0, 10, 0, 10});
  EXPECT_EQ(map.Slices(0, 20), (std::vector<FileSlice>{{1, 0, 10, 0}, {3, 0, 10, 10}}));
  EXPECT_EQ(map.Slices(10, 5), (std::vector<FileSlice>{{3, 0, 5, 0}}));
}

TEST(FileMapTest, RangePastTheEndIsCut) {
  FileMap map({10});
  EXPECT_EQ(map.Slices(5, 100), (std::vector<FileSlice>{{0, 5, 5, 0}}));
  EXPECT_TRUE(map.Slices(10, 1).empty());
  EXPECT_TRUE(map.Slices(3, 0).empty());
  EXPECT_TRUE(FileMap({}).Slices(0, 1).empty());
}

}  // namespace
}  // namespace swarm::bt
