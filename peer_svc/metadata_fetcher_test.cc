#include "peer_svc/metadata_fetcher.h"

#include <sys/socket.h>

#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bt/extension_handshake.h"
#include "bt/ut_metadata.h"
#include "bt/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "peer_svc/testing/fake_peer.h"
#include "process/ports.h"

namespace swarm::peer_svc {
namespace {

using ::swarm::peer_svc::testing::FakePeer;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);

std::string RandomBytes(size_t n) {
  std::mt19937_64 rng(n);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// A peer with a magnet link's torrent, on its own 127.0.0.x, that answers the fetcher's
// metadata requests with `dict` (offering none when `dict` is empty).
class MetadataPeer {
 public:
  MetadataPeer(const std::string& ip, const bt::Sha1Digest& info_hash, std::string dict)
      : info_hash_(info_hash), dict_(std::move(dict)) {
    absl::StatusOr<std::unique_ptr<FakePeer>> p = FakePeer::Listen(ip, 1);
    EXPECT_TRUE(p.ok()) << p.status();
    peer_ = *std::move(p);
    thread_ = std::thread([this] { Serve(); });
  }
  ~MetadataPeer() { thread_.join(); }
  bt::Endpoint endpoint() const { return *bt::Endpoint::Make(peer_->ip(), peer_->port()); }

 private:
  void Serve() {
    if (!peer_->Accept(kWait).ok()) return;
    absl::StatusOr<bt::Message> m = peer_->Next(kWait);  // its handshake
    if (!m.ok() || !m->handshake.extension_protocol()) return;
    std::string out;
    out = absl::StrCat("d1:md11:ut_metadatai3ee",
                       dict_.empty() ? "" : absl::StrCat("13:metadata_sizei", dict_.size(), "e"),
                       "e");
    std::string hs;
    bt::AppendExtended(&hs, 0, out);
    if (!peer_->SendHandshake(info_hash_, /*fast=*/false, /*extensions=*/true).ok() ||
        !peer_->Send(hs).ok()) {
      return;
    }
    uint8_t their_id = 0;
    while (true) {
      m = peer_->Next(kWait);
      if (!m.ok()) return;  // the fetcher is done with us
      if (m->type != bt::MessageType::kExtended) continue;
      if (m->extended_id == 0) {
        absl::StatusOr<bt::ExtensionHandshake> h = bt::ParseExtensionHandshake(m->data);
        if (h.ok() && h->extensions.count("ut_metadata")) their_id = h->extensions["ut_metadata"];
        continue;
      }
      absl::StatusOr<bt::MetadataMessage> r = bt::ParseMetadataMessage(m->data);
      if (!r.ok() || r->type != bt::MetadataMessageType::kRequest || their_id == 0) continue;
      const uint32_t size = static_cast<uint32_t>(dict_.size());
      std::string reply;
      bt::AppendExtended(
          &reply, their_id,
          bt::EncodeMetadataData(r->piece, size,
                                 dict_.substr(size_t{r->piece} * bt::kMetadataPieceSize,
                                              bt::MetadataPieceLength(size, r->piece))));
      if (!peer_->Send(reply).ok()) return;
    }
  }

  const bt::Sha1Digest info_hash_;
  const std::string dict_;
  std::unique_ptr<FakePeer> peer_;
  std::thread thread_;
};

// What the fetcher reported.
struct Outcome {
  absl::Mutex mu;
  std::string dict;
  int done_calls = 0;
  std::vector<std::pair<std::string, absl::Status>> ended;
  std::vector<std::string> banned;

  MetadataFetcher::Done Done() {
    return [this](std::string d) {
      absl::MutexLock lock(&mu);
      dict = std::move(d);
      ++done_calls;
    };
  }
  MetadataFetcher::PeerEnded Ended() {
    return [this](const bt::Endpoint& peer, const absl::Status& why, bool b) {
      absl::MutexLock lock(&mu);
      ended.emplace_back(peer.ToString(), why);
      if (b) banned.push_back(peer.ToString());
    };
  }
  bool WaitForEnded(size_t n) {
    absl::MutexLock lock(&mu);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return ended.size() >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
};

MetadataFetcher::Options Options(const bt::Sha1Digest& info_hash) {
  MetadataFetcher::Options o;
  o.info_hash = info_hash;
  o.peer_id.fill('F');
  o.handshake_timeout = kWait;
  o.piece_timeout = kWait;
  return o;
}

TEST(MetadataFetcherTest, FetchesADictionaryOfSeveralPiecesAndChecksIt) {
  const std::string dict = RandomBytes(5 * bt::kMetadataPieceSize + 123);
  const bt::Sha1Digest info_hash = bt::Sha1(dict);
  MetadataPeer seeder("127.0.0.1", info_hash, dict);
  Outcome outcome;
  MetadataFetcher fetcher(Options(info_hash), outcome.Done(), outcome.Ended());
  fetcher.AddPeer(seeder.endpoint());
  ASSERT_TRUE(outcome.WaitForEnded(1));
  fetcher.Stop();
  absl::MutexLock lock(&outcome.mu);
  EXPECT_EQ(outcome.done_calls, 1);
  EXPECT_EQ(outcome.dict, dict);
  EXPECT_TRUE(outcome.ended[0].second.ok()) << outcome.ended[0].second;
  EXPECT_TRUE(outcome.banned.empty());
  EXPECT_TRUE(fetcher.done());
}

// A peer whose dictionary is not the info-hash's is banned; one that offers none is left
// without blame; the honest one's dictionary is taken.
TEST(MetadataFetcherTest, ALiarIsBannedAndTheHonestPeersDictionaryTaken) {
  const std::string dict = RandomBytes(2 * bt::kMetadataPieceSize);
  const bt::Sha1Digest info_hash = bt::Sha1(dict);
  std::string lie = dict;
  lie[bt::kMetadataPieceSize + 7] ^= 1;
  MetadataPeer liar("127.0.0.2", info_hash, lie);
  MetadataPeer without("127.0.0.3", info_hash, "");
  Outcome outcome;
  MetadataFetcher::Options o = Options(info_hash);
  o.max_peers = 1;  // one after the other: the liar first
  MetadataFetcher fetcher(o, outcome.Done(), outcome.Ended());
  fetcher.AddPeer(liar.endpoint());
  fetcher.AddPeer(without.endpoint());
  ASSERT_TRUE(outcome.WaitForEnded(2));
  {
    absl::MutexLock lock(&outcome.mu);
    EXPECT_EQ(outcome.done_calls, 0);
    EXPECT_THAT(outcome.banned, ::testing::ElementsAre(liar.endpoint().ToString()));
    EXPECT_THAT(outcome.ended[0].second.message(), HasSubstr("not the torrent's"));
    EXPECT_THAT(outcome.ended[1].second.message(), HasSubstr("does not offer the metadata"));
  }
  EXPECT_FALSE(fetcher.AddPeer(liar.endpoint())) << "banned";
  MetadataPeer honest("127.0.0.4", info_hash, dict);
  fetcher.AddPeer(honest.endpoint());
  ASSERT_TRUE(outcome.WaitForEnded(3));
  fetcher.Stop();
  absl::MutexLock lock(&outcome.mu);
  EXPECT_EQ(outcome.done_calls, 1);
  EXPECT_EQ(outcome.dict, dict);
  EXPECT_EQ(outcome.ended[2].first, honest.endpoint().ToString());
}

// A peer that could not be reached may be handed out again, and is dialled again.
TEST(MetadataFetcherTest, APeerWhoseConnectionEndedMayBeAddedAgain) {
  const std::string dict = RandomBytes(100);
  const bt::Sha1Digest info_hash = bt::Sha1(dict);
  Outcome outcome;
  MetadataFetcher fetcher(Options(info_hash), outcome.Done(), outcome.Ended());
  // Nobody listens there yet.
  absl::StatusOr<int> port = process::PickUnusedPort(SOCK_STREAM, "127.0.0.6");
  ASSERT_TRUE(port.ok());
  const bt::Endpoint absent = *bt::Endpoint::Make("127.0.0.6", *port);
  ASSERT_TRUE(fetcher.AddPeer(absent));
  ASSERT_TRUE(outcome.WaitForEnded(1));
  EXPECT_TRUE(fetcher.AddPeer(absent)) << "ended: it may be handed out again";
  ASSERT_TRUE(outcome.WaitForEnded(2));
  MetadataPeer later("127.0.0.7", info_hash, dict);
  ASSERT_TRUE(fetcher.AddPeer(later.endpoint()));
  EXPECT_FALSE(fetcher.AddPeer(later.endpoint())) << "queued, connected or done";
  ASSERT_TRUE(outcome.WaitForEnded(3));
  EXPECT_FALSE(fetcher.AddPeer(absent)) << "done: nobody is wanted";
  fetcher.Stop();
  absl::MutexLock lock(&outcome.mu);
  EXPECT_EQ(outcome.dict, dict);
}

// Stop does not wait for a peer that never answers.
TEST(MetadataFetcherTest, StopEndsAConnectionToASilentPeer) {
  absl::StatusOr<std::unique_ptr<FakePeer>> silent = FakePeer::Listen("127.0.0.5", 1);
  ASSERT_TRUE(silent.ok());
  Outcome outcome;
  MetadataFetcher fetcher(Options(bt::Sha1("x")), outcome.Done(), outcome.Ended());
  fetcher.AddPeer(*bt::Endpoint::Make((*silent)->ip(), (*silent)->port()));
  ASSERT_TRUE((*silent)->Accept(kWait).ok());
  EXPECT_EQ(fetcher.peers(), 1u);
  const absl::Time start = absl::Now();
  fetcher.Stop();
  EXPECT_LT(absl::Now() - start, kWait);
  EXPECT_TRUE(outcome.WaitForEnded(1));
}

}  // namespace
}  // namespace swarm::peer_svc
