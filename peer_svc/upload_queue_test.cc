#include "peer_svc/upload_queue.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace swarm::peer_svc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Request = UploadQueue::Request;
using Verdict = UploadQueue::Verdict;

constexpr uint32_t kBlock = 16384;

class UploadQueueTest : public ::testing::Test {
 protected:
  // 4 pieces of 64 KiB; the last one 1000 bytes.
  bt::PieceLayout layout_ = *bt::PieceLayout::Create(3 * 65536 + 1000, 65536);
  absl::Time now_ = absl::FromUnixSeconds(1000);
};

TEST_F(UploadQueueTest, ServesInOrderOnceUnchoked) {
  UploadQueue q(layout_, UploadQueue::Options());
  EXPECT_TRUE(q.choking());
  q.Unchoke();
  EXPECT_EQ(q.OnRequest({1, kBlock, kBlock}, true, now_), Verdict::kQueued);
  EXPECT_EQ(q.OnRequest({3, 0, 1000}, true, now_), Verdict::kQueued);
  EXPECT_EQ(q.OnRequest({0, 0, 128 * 1024 - 65536}, true, now_), Verdict::kQueued);
  EXPECT_EQ(q.queued_bytes(), kBlock + 1000 + 65536u);
  EXPECT_EQ(q.Pop(), (Request{1, kBlock, kBlock}));
  EXPECT_EQ(q.Pop(), (Request{3, 0, 1000}));
  EXPECT_EQ(q.Pop()->piece, 0u);
  EXPECT_EQ(q.Pop(), std::nullopt);
  EXPECT_EQ(q.queued_bytes(), 0u);
  EXPECT_EQ(q.bad_requests(), 0u);
}

TEST_F(UploadQueueTest, RefusesPiecesWeDoNotHave) {
  UploadQueue q(layout_, UploadQueue::Options());
  q.Unchoke();
  EXPECT_EQ(q.OnRequest({2, 0, kBlock}, false, now_), Verdict::kRefused);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bad_requests(), 1u);
}

TEST_F(UploadQueueTest, RefusesRequestsWhileChoked) {
  UploadQueue q(layout_, UploadQueue::Options());
  EXPECT_EQ(q.OnRequest({0, 0, kBlock}, true, now_), Verdict::kRefused);
  EXPECT_EQ(q.bad_requests(), 1u) << "never unchoked: the peer had no reason to ask";
}

TEST_F(UploadQueueTest, ChokeVoidsTheQueueAndLateRequestsAreForgiven) {
  UploadQueue q(layout_, UploadQueue::Options());
  q.Unchoke();
  q.OnRequest({0, 0, kBlock}, true, now_);
  q.OnRequest({0, kBlock, kBlock}, true, now_);
  std::vector<Request> dropped;
  q.Choke(now_, &dropped);
  EXPECT_THAT(dropped, ElementsAre(Request{0, 0, kBlock}, Request{0, kBlock, kBlock}));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.queued_bytes(), 0u);
  // Sent before the peer saw our choke.
  EXPECT_EQ(q.OnRequest({0, 2 * kBlock, kBlock}, true, now_ + absl::Seconds(1)), Verdict::kRefused);
  EXPECT_EQ(q.bad_requests(), 0u);
  // Long after: held against it.
  EXPECT_EQ(q.OnRequest({0, 2 * kBlock, kBlock}, true, now_ + absl::Seconds(30)),
            Verdict::kRefused);
  EXPECT_EQ(q.bad_requests(), 1u);
}

TEST_F(UploadQueueTest, CancelRemovesAQueuedRequest) {
  UploadQueue q(layout_, UploadQueue::Options());
  q.Unchoke();
  q.OnRequest({0, 0, kBlock}, true, now_);
  q.OnRequest({0, kBlock, kBlock}, true, now_);
  EXPECT_TRUE(q.Cancel({0, 0, kBlock}));
  EXPECT_FALSE(q.Cancel({0, 0, kBlock}));
  EXPECT_FALSE(q.Cancel({0, kBlock, 100})) << "length must match too";
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.queued_bytes(), kBlock);
  EXPECT_EQ(q.Pop(), (Request{0, kBlock, kBlock}));
}

TEST_F(UploadQueueTest, QueueIsBoundedByCountAndBytes) {
  UploadQueue::Options o;
  o.max_requests = 3;
  o.max_bytes = 4 * kBlock;
  UploadQueue q(layout_, o);
  q.Unchoke();
  for (uint32_t b = 0; b < 3; ++b) {
    EXPECT_EQ(q.OnRequest({0, b * kBlock, kBlock}, true, now_), Verdict::kQueued);
  }
  EXPECT_EQ(q.OnRequest({0, 3 * kBlock, kBlock}, true, now_), Verdict::kRefused);
  q.Pop();
  q.Pop();
  EXPECT_EQ(q.OnRequest({1, 0, 65536}, true, now_), Verdict::kRefused) << "over max_bytes";
  EXPECT_EQ(q.OnRequest({1, 0, 3 * kBlock}, true, now_), Verdict::kQueued);
  EXPECT_EQ(q.bad_requests(), 0u) << "a full queue is not the peer's fault";
}

TEST_F(UploadQueueTest, InvalidRequestsAreRefusedThenTheirMakerBanned) {
  UploadQueue q(layout_, UploadQueue::Options());  // 3 tolerated
  q.Unchoke();
  EXPECT_EQ(q.OnRequest({0, 65536 - 100, kBlock}, true, now_), Verdict::kRefused);  // past end
  EXPECT_EQ(q.OnRequest({3, 0, 1001}, true, now_), Verdict::kRefused);        // short last piece
  EXPECT_EQ(q.OnRequest({0, 0, 256 * 1024}, true, now_), Verdict::kRefused);  // too large
  EXPECT_EQ(q.invalid_requests(), 3u);
  EXPECT_EQ(q.OnRequest({9, 0, kBlock}, true, now_), Verdict::kBan);  // no such piece
  EXPECT_THAT(q.ban_reason(), HasSubstr("4 requests out of range"));
  EXPECT_TRUE(q.empty());
}

TEST_F(UploadQueueTest, PersistentBadRequestsGetThePeerBanned) {
  UploadQueue::Options o;
  o.max_bad_requests = 5;
  UploadQueue q(layout_, o);
  q.Unchoke();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(q.OnRequest({2, 0, kBlock}, false, now_), Verdict::kRefused);
  EXPECT_EQ(q.OnRequest({2, 0, kBlock}, false, now_), Verdict::kBan);
  EXPECT_THAT(q.ban_reason(), HasSubstr("6 requests while choked or for pieces we do not have"));
}

}  // namespace
}  // namespace swarm::peer_svc
