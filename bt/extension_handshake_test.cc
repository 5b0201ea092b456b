#include "bt/extension_handshake.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

TEST(ExtensionHandshakeTest, ReadsWhatWeUse) {
  // libtorrent's, roughly.
  absl::StatusOr<ExtensionHandshake> h = ParseExtensionHandshake(
      "d1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e"
      "6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e4:reqqi500e1:v16:libtorrent 2.0.8e");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->reqq, 500u);
  EXPECT_EQ(h->listen_port, 6881u);
  EXPECT_EQ(h->client, "libtorrent 2.0.8");
  EXPECT_EQ(h->extensions.at("ut_metadata"), 2);
  EXPECT_EQ(h->extensions.at("ut_pex"), 1);
  EXPECT_EQ(h->extensions.size(), 6u);
  EXPECT_EQ(h->metadata_size, 31235u);
}

TEST(ExtensionHandshakeTest, WrongTypesAndOutOfRangeValuesAreIgnored) {
  absl::StatusOr<ExtensionHandshake> h = ParseExtensionHandshake(
      "d1:md1:ai0e1:bi256e1:c1:x1:di9ee1:pi70000e4:reqqi99999999999e1:vi5ee");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->reqq, uint32_t{1} << 20);  // clamped
  EXPECT_FALSE(h->listen_port.has_value());
  EXPECT_EQ(h->client, "");
  EXPECT_THAT(h->extensions, ElementsAre(Pair("d", 9)));
  EXPECT_FALSE(ParseExtensionHandshake("d4:reqqi-5ee")->reqq.has_value());
  EXPECT_FALSE(ParseExtensionHandshake("d13:metadata_sizei0ee")->metadata_size.has_value());
  EXPECT_FALSE(
      ParseExtensionHandshake("d13:metadata_sizei16777217ee")->metadata_size.has_value());
  EXPECT_FALSE(ParseExtensionHandshake("d13:metadata_size1:xe")->metadata_size.has_value());
}

TEST(ExtensionHandshakeTest, UnsortedKeysAreFine) {
  absl::StatusOr<ExtensionHandshake> h = ParseExtensionHandshake("d4:reqqi7e1:pi1ee");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->reqq, 7u);
}

TEST(ExtensionHandshakeTest, WhatIsNotASmallDictionaryIsRefused) {
  EXPECT_FALSE(ParseExtensionHandshake("").ok());
  EXPECT_FALSE(ParseExtensionHandshake("li1ee").ok());
  EXPECT_FALSE(ParseExtensionHandshake("d1:m").ok());
  // Too deep, too many values, too long: what bencode's general limits would let through.
  EXPECT_FALSE(ParseExtensionHandshake("d1:xd1:yd1:zd1:wi1eeeee").ok());
  std::string many = "d1:xl";
  for (int i = 0; i < 600; ++i) many += "i1e";
  many += "ee";
  EXPECT_FALSE(ParseExtensionHandshake(many).ok());
  EXPECT_FALSE(ParseExtensionHandshake("d1:v20000:" + std::string(20000, 'v') + "e").ok());
}

}  // namespace
}  // namespace swarm::bt
