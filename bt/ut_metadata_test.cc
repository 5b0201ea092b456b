#include "bt/ut_metadata.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::bt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ErrorOf(std::string_view payload) {
  absl::StatusOr<MetadataMessage> m = ParseMetadataMessage(payload);
  return m.ok() ? "OK" : std::string(m.status().message());
}

TEST(UtMetadataTest, MessagesRoundTrip) {
  absl::StatusOr<MetadataMessage> m = ParseMetadataMessage(EncodeMetadataRequest(3));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->type, MetadataMessageType::kRequest);
  EXPECT_EQ(m->piece, 3u);
  m = ParseMetadataMessage(EncodeMetadataReject(0));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, MetadataMessageType::kReject);
  const std::string last(40000 - 2 * kMetadataPieceSize, 'z');
  const std::string payload = EncodeMetadataData(2, 40000, last);  // m.data points into it
  m = ParseMetadataMessage(payload);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->type, MetadataMessageType::kData);
  EXPECT_EQ(m->piece, 2u);
  EXPECT_EQ(m->total_size, 40000u);
  EXPECT_EQ(m->data, last);
  // As libtorrent writes them: the same keys, and another one it may add.
  m = ParseMetadataMessage("d8:msg_typei0e5:piecei0e4:xtrai1ee");
  EXPECT_TRUE(m.ok()) << m.status();
}

TEST(UtMetadataTest, RefusesMalformedMessages) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("ut_metadata"));
  EXPECT_THAT(ErrorOf("i1e"), HasSubstr("not a dictionary"));
  EXPECT_THAT(ErrorOf("d5:piecei0ee"), HasSubstr("no integer msg_type"));
  EXPECT_THAT(ErrorOf("d8:msg_typei0e5:piece1:xe"), HasSubstr("no integer msg_type"));
  EXPECT_THAT(ErrorOf("d8:msg_typei0e5:piecei-1ee"), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf("d8:msg_typei0e5:piecei1024ee"), HasSubstr("out of range"));
  // Data: a size, and exactly the piece's bytes.
  EXPECT_THAT(ErrorOf("d8:msg_typei1e5:piecei0eexx"), HasSubstr("total_size"));
  EXPECT_THAT(ErrorOf(EncodeMetadataData(0, kMaxMetadataSize + 1, "")), HasSubstr("total_size"));
  EXPECT_THAT(ErrorOf(EncodeMetadataData(0, 10, "123456789")), HasSubstr("has 9 bytes, not 10"));
  EXPECT_THAT(ErrorOf(EncodeMetadataData(0, 10, "12345678901")), HasSubstr("not 10"));
  EXPECT_THAT(ErrorOf(EncodeMetadataData(1, 10, "")), HasSubstr("piece 1 of a dictionary of 10"));
  // A deep or long dictionary is not a message.
  EXPECT_THAT(ErrorOf("d1:ad1:ad1:ai1eeee"), HasSubstr("ut_metadata"));
  EXPECT_THAT(ErrorOf(absl::StrCat("d1:x", std::string(600, 'l'), "e")), HasSubstr("ut_metadata"));
  // An unknown type is to be ignored, not taken for an attack.
  absl::StatusOr<MetadataMessage> m = ParseMetadataMessage("d8:msg_typei7e5:piecei0ee");
  EXPECT_TRUE(absl::IsUnimplemented(m.status())) << m.status();
}

TEST(UtMetadataTest, PieceArithmetic) {
  EXPECT_EQ(MetadataPieces(1), 1u);
  EXPECT_EQ(MetadataPieces(kMetadataPieceSize), 1u);
  EXPECT_EQ(MetadataPieces(kMetadataPieceSize + 1), 2u);
  EXPECT_EQ(MetadataPieceLength(kMetadataPieceSize + 1, 0), kMetadataPieceSize);
  EXPECT_EQ(MetadataPieceLength(kMetadataPieceSize + 1, 1), 1u);
  EXPECT_EQ(MetadataPieceLength(kMetadataPieceSize + 1, 2), 0u);
  EXPECT_EQ(MetadataPieces(kMaxMetadataSize), 1024u);
}

TEST(UtMetadataTest, AssemblesAndChecksTheWhole) {
  const std::string info(2 * kMetadataPieceSize + 100, 'i');
  absl::StatusOr<MetadataAssembler> a = MetadataAssembler::Create(Sha1(info), info.size());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->pieces(), 3u);
  EXPECT_EQ(a->NextMissing(), 0u);
  ASSERT_TRUE(a->Add(1, info.substr(kMetadataPieceSize, kMetadataPieceSize), 7).ok());
  EXPECT_EQ(a->NextMissing(1), 2u);
  EXPECT_FALSE(a->Add(2, "short", 7).ok());
  EXPECT_FALSE(a->Add(3, "", 7).ok());
  EXPECT_FALSE(a->Finish().ok()) << "incomplete";
  ASSERT_TRUE(a->Add(2, info.substr(2 * kMetadataPieceSize), 8).ok());
  ASSERT_TRUE(a->Add(0, info.substr(0, kMetadataPieceSize), 7).ok());
  EXPECT_TRUE(a->complete());
  absl::StatusOr<std::string> whole = a->Finish();
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(*whole, info);
}

TEST(UtMetadataTest, AWrongWholeIsDroppedAndItsSendersNamed) {
  const std::string info(kMetadataPieceSize + 1, 'i');
  absl::StatusOr<MetadataAssembler> a = MetadataAssembler::Create(Sha1(info), info.size());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->Add(0, std::string(kMetadataPieceSize, 'X'), 5).ok());  // a liar
  ASSERT_TRUE(a->Add(1, "i", 9).ok());
  std::vector<uint64_t> culprits;
  absl::StatusOr<std::string> whole = a->Finish(&culprits);
  EXPECT_TRUE(absl::IsDataLoss(whole.status())) << whole.status();
  EXPECT_THAT(culprits, ElementsAre(5, 9));
  EXPECT_FALSE(a->complete());
  EXPECT_EQ(a->NextMissing(), 0u);
  ASSERT_TRUE(a->Add(0, info.substr(0, kMetadataPieceSize), 6).ok());
  ASSERT_TRUE(a->Add(1, "i", 6).ok());
  EXPECT_TRUE(a->Finish().ok());
}

TEST(UtMetadataTest, AnnouncedSizesOutsideTheLimitAreRefused) {
  EXPECT_FALSE(MetadataAssembler::Create(Sha1Digest{}, 0).ok());
  EXPECT_FALSE(MetadataAssembler::Create(Sha1Digest{}, kMaxMetadataSize + 1).ok());
  EXPECT_TRUE(MetadataAssembler::Create(Sha1Digest{}, kMaxMetadataSize).ok());
}

}  // namespace
}  // namespace swarm::bt
