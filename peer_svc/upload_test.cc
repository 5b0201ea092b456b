// The worker as an uploader, end to end in one process: a fake coordinator, the real Worker
// (listening on an ephemeral loopback port), and FakePeers playing leechers that connect to
// it or that it dials.
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "bt/bitfield.h"
#include "bt/extension_handshake.h"
#include "bt/ut_metadata.h"
#include "bt/ut_pex.h"
#include "bt/wire.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "peer_svc/testing/fake_coordinator.h"
#include "peer_svc/testing/fake_peer.h"
#include "peer_svc/testing/test_torrent.h"
#include "peer_svc/worker.h"
#include "proto/coordinator.grpc.pb.h"
#include "storage/content_files.h"

namespace swarm::peer_svc {
namespace {

using bt::MessageType;
using ::swarm::peer_svc::testing::FakeCoordinator;
using ::swarm::peer_svc::testing::FakePeer;
using ::swarm::peer_svc::testing::MakeTestTorrent;
using ::swarm::peer_svc::testing::TestTorrent;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(30);
constexpr uint32_t kBlock = bt::kBlockSize;

class UploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    output_dir_ = absl::StrCat(::testing::TempDir(), "/",
                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    mkdir(output_dir_.c_str(), 0755);
    // The data is on disk already (the coordinator checked it): the worker reads it from there.
    std::ofstream(output_dir_ + "/payload.bin", std::ios::binary) << t_.content;
  }

  void TearDown() override {
    if (worker_) worker_->Shutdown();
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  uint32_t num_pieces() const { return t_.metainfo.num_pieces(); }
  std::vector<uint32_t> AllPieces() const {
    std::vector<uint32_t> all;
    for (uint32_t p = 0; p < num_pieces(); ++p) all.push_back(p);
    return all;
  }

  // Starts the coordinator, with every piece but `missing` verified, and a worker; returns
  // once the worker serves the job (its first RequestWork).
  void StartWorker(const std::vector<uint32_t>& missing = {}, uint32_t upload_slots = 4,
                   bool grant_leases = false,
                   const std::function<void(Worker::Options*)>& customize = nullptr) {
    bt::Bitfield verified(num_pieces());
    verified.SetAll();
    for (uint32_t p : missing) verified.Clear(p);
    FakeCoordinator::Options co;
    co.grant_leases = grant_leases;
    coordinator_ =
        std::make_unique<FakeCoordinator>(t_, output_dir_, std::vector<pb::PeerAddress>(), co);
    coordinator_->SetVerified(verified.ToBytes());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(coordinator_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);

    Worker::Options o;
    o.coordinator = absl::StrCat("127.0.0.1:", port_);
    o.name = "uploader";
    o.verbose = false;
    o.job.choker.upload_slots = upload_slots;
    if (customize) customize(&o);
    absl::StatusOr<std::unique_ptr<Worker>> w = Worker::Start(o);
    ASSERT_TRUE(w.ok()) << w.status();
    worker_ = *std::move(w);
    ASSERT_TRUE(coordinator_->WaitUntil(
        [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return c.work_requests > 0; },
        kWait));
  }

  // A leecher connected to the worker's listen port (from `bind_ip`, if given), past the
  // handshakes.
  std::unique_ptr<FakePeer> ConnectLeecher(bool fast = true, const std::string& bind_ip = "") {
    absl::StatusOr<std::unique_ptr<FakePeer>> p =
        FakePeer::Connect(worker_->listen_ip(), worker_->listen_port(), num_pieces(), bind_ip);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return nullptr;
    EXPECT_TRUE((*p)->SendHandshake(t_.metainfo.info_hash, fast).ok());
    ExpectWorkerHandshake(**p, fast);
    return *std::move(p);
  }

  // A peer that speaks the extension protocol (BEP 10), past the handshakes: the worker's
  // extension handshake, or why there is none.
  absl::StatusOr<bt::ExtensionHandshake> ConnectWithExtensions(std::unique_ptr<FakePeer>* out) {
    absl::StatusOr<std::unique_ptr<FakePeer>> p =
        FakePeer::Connect(worker_->listen_ip(), worker_->listen_port(), num_pieces());
    if (!p.ok()) return p.status();
    *out = *std::move(p);
    absl::Status sent = (*out)->SendHandshake(t_.metainfo.info_hash, true, /*extensions=*/true);
    if (!sent.ok()) return sent;
    ExpectWorkerHandshake(**out, true);
    absl::StatusOr<bt::Message> m = (*out)->NextOfType(MessageType::kExtended, kWait);
    if (!m.ok()) return m.status();
    if (m->extended_id != 0) return absl::InternalError("not an extension handshake");
    return bt::ParseExtensionHandshake(m->data);
  }

  void ExpectWorkerHandshake(FakePeer& p, bool fast) {
    absl::StatusOr<bt::Message> h = p.Next(kWait);
    ASSERT_TRUE(h.ok()) << h.status();
    ASSERT_EQ(h->type, MessageType::kHandshake);
    EXPECT_EQ(h->handshake.info_hash, t_.metainfo.info_hash);
    EXPECT_EQ(h->handshake.peer_id, worker_->peer_id());
    EXPECT_TRUE(h->handshake.fast_extension());
  }

  // Sends interested and waits for the unchoke.
  void GetUnchoked(FakePeer& p) {
    ASSERT_TRUE(p.Send(Msg([](std::string* o) { bt::AppendInterested(o); })).ok());
    absl::StatusOr<bt::Message> m = p.NextPayload(kWait);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->type, MessageType::kUnchoke) << bt::MessageTypeName(m->type);
  }

  // Requests every block of `pieces` and checks each answer byte for byte.
  void DownloadAndCheck(FakePeer& p, const std::vector<uint32_t>& pieces) {
    ASSERT_TRUE(p.RequestPieces(pieces, t_.content.size(), t_.metainfo.piece_length).ok());
    const bt::PieceLayout layout = t_.metainfo.layout();
    for (uint32_t piece : pieces) {
      for (uint32_t b = 0; b < layout.num_blocks(piece); ++b) {
        absl::StatusOr<bt::Message> m = p.NextPayload(kWait);
        ASSERT_TRUE(m.ok()) << m.status();
        ASSERT_EQ(m->type, MessageType::kPiece) << bt::MessageTypeName(m->type);
        ASSERT_EQ(m->index, piece);
        ASSERT_EQ(m->begin, b * kBlock);
        ASSERT_EQ(m->data, Block(piece, b * kBlock, layout.block_length(piece, b)));
      }
    }
  }

  std::string Block(uint32_t piece, uint32_t begin, uint32_t length) const {
    return t_.content.substr(t_.metainfo.layout().piece_offset(piece) + begin, length);
  }

  template <typename F>
  static std::string Msg(F append) {
    std::string out;
    append(&out);
    return out;
  }

  void ExpectNext(FakePeer& p, MessageType type, uint32_t index = 0, uint32_t begin = 0) {
    absl::StatusOr<bt::Message> m = p.NextPayload(kWait);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->type, type) << bt::MessageTypeName(m->type);
    EXPECT_EQ(m->index, index);
    EXPECT_EQ(m->begin, begin);
  }

  // The coordinator hands the worker one peer to dial.
  void PushPeer(const std::string& ip, uint16_t port) {
    pb::CoordinatorMessage add;
    add.mutable_add_peers()->set_job_id(coordinator_->job_id);
    pb::PeerAddress* addr = add.mutable_add_peers()->add_peers();
    addr->set_ip(ip);
    addr->set_port(port);
    ASSERT_TRUE(coordinator_->Push(add));
  }

  void PushVerified(std::vector<uint32_t> pieces) {
    pb::CoordinatorMessage m;
    m.mutable_pieces_verified()->set_job_id(coordinator_->job_id);
    for (uint32_t p : pieces) m.mutable_pieces_verified()->add_pieces(p);
    ASSERT_TRUE(coordinator_->Push(m));
  }

  // 9 pieces of 64 KiB (4 blocks), the last one 5000 bytes.
  TestTorrent t_ = MakeTestTorrent("payload.bin", 8 * 65536 + 5000, 65536);
  std::string output_dir_;
  std::unique_ptr<FakeCoordinator> coordinator_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Worker> worker_;
  int port_ = 0;
};

TEST_F(UploadTest, ServesEveryBlockToALeecherThatConnects) {
  StartWorker();
  std::unique_ptr<FakePeer> p = ConnectLeecher();
  ASSERT_NE(p, nullptr);
  ExpectNext(*p, MessageType::kHaveAll);  // the fast extension's short form of "everything"
  GetUnchoked(*p);
  DownloadAndCheck(*p, AllPieces());

  const uint64_t total = t_.content.size();
  ASSERT_TRUE(coordinator_->WaitUntil(
      [&](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
        if (c.heartbeats.empty()) return false;
        const pb::Heartbeat& h = c.heartbeats.back();
        return h.uploaded_bytes() == total && h.jobs_size() == 1 &&
               h.jobs(0).uploaded_bytes() == total && h.jobs(0).upload_peers() == 1;
      },
      kWait));
  absl::MutexLock lock(&coordinator_->mu);
  const pb::Heartbeat& h = coordinator_->heartbeats.back();
  EXPECT_EQ(h.jobs(0).job_id(), "job-1");
  EXPECT_EQ(h.jobs(0).downloaded_bytes(), 0u);
  const pb::Register& reg = coordinator_->registers[0];
  EXPECT_EQ(reg.listen_port(), worker_->listen_port());
  EXPECT_EQ(reg.listen_ip(), "127.0.0.1");
  // A seed asks for peers only.
  ASSERT_FALSE(coordinator_->request_log.empty());
  for (const pb::RequestWork& r : coordinator_->request_log) {
    EXPECT_EQ(r.max_pieces(), 0u);
    EXPECT_GT(r.max_peers(), 0u);
  }
}

TEST_F(UploadTest, BitfieldAndSilentRefusalsWithoutTheFastExtension) {
  StartWorker(/*missing=*/{3});
  std::unique_ptr<FakePeer> p = ConnectLeecher(/*fast=*/false);
  ASSERT_NE(p, nullptr);
  absl::StatusOr<bt::Message> m = p->NextPayload(kWait);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->type, MessageType::kBitfield);
  for (uint32_t piece = 0; piece < num_pieces(); ++piece) {
    EXPECT_EQ(m->bitfield.Get(piece), piece != 3) << piece;
  }
  // Choked: ignored (no reject without BEP 6). Whatever the worker sent for it would come
  // before the unchoke that answers the interested behind it.
  ASSERT_TRUE(p->Send(Msg([](std::string* o) { bt::AppendRequest(o, 0, 0, kBlock); })).ok());
  GetUnchoked(*p);
  // A piece we do not have: ignored too; the next request is served.
  ASSERT_TRUE(p->Send(Msg([](std::string* o) {
                 bt::AppendRequest(o, 3, 0, kBlock);
                 bt::AppendRequest(o, 0, kBlock, kBlock);
               })).ok());
  ExpectNext(*p, MessageType::kPiece, 0, kBlock);
}

TEST_F(UploadTest, RequestsWhileChokedAreRejected) {
  StartWorker();
  std::unique_ptr<FakePeer> p = ConnectLeecher();
  ASSERT_NE(p, nullptr);
  ExpectNext(*p, MessageType::kHaveAll);
  ASSERT_TRUE(p->Send(Msg([](std::string* o) { bt::AppendRequest(o, 1, 0, kBlock); })).ok());
  ExpectNext(*p, MessageType::kReject, 1, 0);
  GetUnchoked(*p);
  ASSERT_TRUE(p->Send(Msg([](std::string* o) { bt::AppendRequest(o, 1, 0, kBlock); })).ok());
  ExpectNext(*p, MessageType::kPiece, 1, 0);
}

TEST_F(UploadTest, PeersBeyondTheUploadSlotsStayChoked) {
  StartWorker({}, /*upload_slots=*/1);
  std::unique_ptr<FakePeer> a = ConnectLeecher();
  std::unique_ptr<FakePeer> b = ConnectLeecher();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ExpectNext(*a, MessageType::kHaveAll);
  ExpectNext(*b, MessageType::kHaveAll);
  GetUnchoked(*a);
  // The one slot is taken: b stays choked (until a rechoke gives it the optimistic slot,
  // 10 s after the job started), so its request is rejected.
  ASSERT_TRUE(b->Send(Msg([](std::string* o) {
                 bt::AppendInterested(o);
                 bt::AppendRequest(o, 2, 0, kBlock);
               })).ok());
  ExpectNext(*b, MessageType::kReject, 2, 0);
  DownloadAndCheck(*a, {2});
}

TEST_F(UploadTest, InvalidRequestsAreRejectedAndAPersistentOffenderDropped) {
  StartWorker();
  std::unique_ptr<FakePeer> good = ConnectLeecher();
  std::unique_ptr<FakePeer> bad = ConnectLeecher(/*fast=*/true, /*bind_ip=*/"127.0.0.2");
  ASSERT_NE(good, nullptr);
  ASSERT_NE(bad, nullptr);
  ExpectNext(*good, MessageType::kHaveAll);
  ExpectNext(*bad, MessageType::kHaveAll);
  GetUnchoked(*good);
  GetUnchoked(*bad);
  // Past the end of a piece; past the end of the short last piece; over 128 KiB.
  ASSERT_TRUE(bad->Send(Msg([](std::string* o) {
                   bt::AppendRequest(o, 0, 65536 - 100, kBlock);
                   bt::AppendRequest(o, 8, 0, 5001);
                   bt::AppendRequest(o, 0, 0, 256 * 1024);
                 }))
                  .ok());
  ExpectNext(*bad, MessageType::kReject, 0, 65536 - 100);
  ExpectNext(*bad, MessageType::kReject, 8, 0);
  ExpectNext(*bad, MessageType::kReject, 0, 0);
  // It persists: dropped.
  ASSERT_TRUE(bad->Send(Msg([](std::string* o) { bt::AppendRequest(o, 1, 65536, 1); })).ok());
  EXPECT_TRUE(bad->WaitForClose(kWait));
  // The other peer is still served.
  DownloadAndCheck(*good, AllPieces());

  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return !c.closed.empty(); },
      kWait));
  absl::MutexLock lock(&coordinator_->mu);
  ASSERT_EQ(coordinator_->closed.size(), 1u);
  EXPECT_TRUE(coordinator_->closed[0].banned());
  EXPECT_TRUE(coordinator_->closed[0].misbehaved()) << "its address is banned, not one port";
  EXPECT_THAT(coordinator_->closed[0].reason(), HasSubstr("4 requests out of range"));
  EXPECT_EQ(coordinator_->closed[0].peer().ip(), "127.0.0.2");
}

TEST_F(UploadTest, ABannedAddressCannotComeBackFromAnotherPort) {
  StartWorker();
  std::unique_ptr<FakePeer> bad = ConnectLeecher(/*fast=*/true, /*bind_ip=*/"127.0.0.2");
  ASSERT_NE(bad, nullptr);
  ExpectNext(*bad, MessageType::kHaveAll);
  // A length prefix far over any message's: a protocol violation.
  ASSERT_TRUE(bad->Send(std::string("\x7f\xff\xff\xff", 4)).ok());
  EXPECT_TRUE(bad->WaitForClose(kWait));
  // The ban is in place once the worker has reported it (its socket closes a moment before).
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return !c.closed.empty(); },
      kWait));
  // Dialling in again (a new port) gets no answer to its handshake.
  absl::StatusOr<std::unique_ptr<FakePeer>> again =
      FakePeer::Connect(worker_->listen_ip(), worker_->listen_port(), num_pieces(), "127.0.0.2");
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE((*again)->SendHandshake(t_.metainfo.info_hash).ok());
  absl::StatusOr<bt::Message> m = (*again)->Next(kWait);
  EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
  // Another address is still welcome.
  EXPECT_NE(ConnectLeecher(), nullptr);
}

// A peer that came with only a magnet link gets the info dictionary under ut_metadata
// (BEP 9), within a bound on how often it may ask.
TEST_F(UploadTest, ServesTheInfoDictionaryUnderUtMetadata) {
  StartWorker();
  std::unique_ptr<FakePeer> p;
  absl::StatusOr<bt::ExtensionHandshake> theirs = ConnectWithExtensions(&p);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  FakePeer& peer = *p;
  absl::StatusOr<bt::Message> m;
  const std::string& info = t_.metainfo.info_bytes;
  EXPECT_EQ(theirs->metadata_size, info.size());
  ASSERT_TRUE(theirs->extensions.count("ut_metadata"));
  const uint8_t id = theirs->extensions.at("ut_metadata");

  constexpr uint8_t kOurId = 3;
  ASSERT_TRUE(peer.Send(Msg([&](std::string* o) {
                    bt::AppendExtended(o, 0, "d1:md11:ut_metadatai3eee");
                    bt::AppendExtended(o, id, bt::EncodeMetadataRequest(0));
                    bt::AppendExtended(o, id, bt::EncodeMetadataRequest(1));  // out of range
                  }))
                  .ok());
  m = peer.NextOfType(MessageType::kExtended, kWait);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->extended_id, kOurId);
  absl::StatusOr<bt::MetadataMessage> data = bt::ParseMetadataMessage(m->data);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->type, bt::MetadataMessageType::kData);
  EXPECT_EQ(data->total_size, info.size());
  EXPECT_EQ(data->data, info);
  m = peer.NextOfType(MessageType::kExtended, kWait);
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<bt::MetadataMessage> reject = bt::ParseMetadataMessage(m->data);
  ASSERT_TRUE(reject.ok()) << reject.status();
  EXPECT_EQ(reject->type, bt::MetadataMessageType::kReject);
  EXPECT_EQ(reject->piece, 1u);

  // Asked over and over: 2 × its pieces + 4 answers in all, then rejects.
  ASSERT_TRUE(peer.Send(Msg([&](std::string* o) {
                    for (int i = 0; i < 10; ++i) {
                      bt::AppendExtended(o, id, bt::EncodeMetadataRequest(0));
                    }
                  }))
                  .ok());
  int answers = 0, rejects = 0;
  for (int i = 0; i < 10; ++i) {
    m = peer.NextOfType(MessageType::kExtended, kWait);
    ASSERT_TRUE(m.ok()) << m.status();
    absl::StatusOr<bt::MetadataMessage> r = bt::ParseMetadataMessage(m->data);
    ASSERT_TRUE(r.ok()) << r.status();
    (r->type == bt::MetadataMessageType::kData ? answers : rejects)++;
  }
  EXPECT_EQ(answers, 5);
  EXPECT_EQ(rejects, 5);
}

// Peer exchange (BEP 11): the peers a peer names go to the coordinator, at most one message
// a minute taken; our own peers go to it (those we dialled: a peer that dialled us is not
// where it listens).
TEST_F(UploadTest, PeersFromAPeersExchangeGoToTheCoordinator) {
  StartWorker();
  std::unique_ptr<FakePeer> p;
  absl::StatusOr<bt::ExtensionHandshake> theirs = ConnectWithExtensions(&p);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  FakePeer& peer = *p;
  ASSERT_TRUE(theirs->extensions.count("ut_pex"));
  const uint8_t id = theirs->extensions.at("ut_pex");
  const std::vector<bt::Endpoint> first = {*bt::Endpoint::Parse("127.0.0.9:6881"),
                                           *bt::Endpoint::Parse("[::1]:6882")};
  const std::vector<bt::Endpoint> second = {*bt::Endpoint::Parse("127.0.0.10:6883")};
  ASSERT_TRUE(peer.Send(Msg([&](std::string* o) {
                    bt::AppendExtended(o, 0, "d1:md6:ut_pexi5eee");
                    bt::AppendExtended(o, id, bt::EncodePexMessage(first, {}));
                    bt::AppendExtended(o, id, bt::EncodePexMessage(second, {}));  // too soon
                    bt::AppendExtended(o, id, "garbage");
                  }))
                  .ok());
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return !c.learned.empty(); },
      kWait));
  // The worker reads on: a keep-alive round trip shows the rest was taken (and dropped).
  GetUnchoked(peer);
  absl::MutexLock lock(&coordinator_->mu);
  ASSERT_EQ(coordinator_->learned.size(), 1u);
  const pb::PeersLearned& learned = coordinator_->learned[0];
  EXPECT_EQ(learned.source().ip(), "127.0.0.1");
  ASSERT_EQ(learned.peers_size(), 2);
  EXPECT_EQ(learned.peers(0).ip(), "127.0.0.9");
  EXPECT_EQ(learned.peers(1).ip(), "::1");
}

TEST_F(UploadTest, CancelledRequestIsNotServed) {
  StartWorker();
  std::unique_ptr<FakePeer> p = ConnectLeecher();
  ASSERT_NE(p, nullptr);
  ExpectNext(*p, MessageType::kHaveAll);
  GetUnchoked(*p);
  // In one segment, so the worker reads the cancel before it serves the first request.
  ASSERT_TRUE(p->Send(Msg([](std::string* o) {
                 bt::AppendRequest(o, 0, 0, kBlock);
                 bt::AppendCancel(o, 0, 0, kBlock);
                 bt::AppendRequest(o, 1, 0, kBlock);
               })).ok());
  ExpectNext(*p, MessageType::kPiece, 1, 0);
}

TEST_F(UploadTest, WrongInfoHashIsRefused) {
  StartWorker();
  absl::StatusOr<std::unique_ptr<FakePeer>> p =
      FakePeer::Connect(worker_->listen_ip(), worker_->listen_port(), num_pieces());
  ASSERT_TRUE(p.ok()) << p.status();
  bt::Sha1Digest other = t_.metainfo.info_hash;
  other[0] ^= 1;
  ASSERT_TRUE((*p)->SendHandshake(other).ok());
  // Closed without an answer (BEP 3).
  absl::StatusOr<bt::Message> m = (*p)->Next(kWait);
  EXPECT_TRUE(absl::IsUnavailable(m.status())) << m.status();
}

TEST_F(UploadTest, HaveFollowsPiecesVerifiedOnceAndNotToAPeerThatHasThePiece) {
  StartWorker(/*missing=*/{5, 6, 7});
  std::unique_ptr<FakePeer> p = ConnectLeecher();
  ASSERT_NE(p, nullptr);
  absl::StatusOr<bt::Message> m = p->NextPayload(kWait);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->type, MessageType::kBitfield);
  EXPECT_EQ(m->bitfield.Count(), num_pieces() - 3);
  // The peer has piece 6, which we need: the worker becomes interested.
  ASSERT_TRUE(p->Send(Msg([](std::string* o) { bt::AppendHave(o, 6); })).ok());
  ASSERT_TRUE(p->NextOfType(MessageType::kInterested, kWait).ok());

  PushVerified({6});     // the peer has it: not announced
  PushVerified({5, 5});  // announced once
  PushVerified({5});
  PushVerified({7});
  ExpectNext(*p, MessageType::kHave, 5);
  ExpectNext(*p, MessageType::kHave, 7);
  GetUnchoked(*p);
  DownloadAndCheck(*p, {5, 7});
}

// The worker's handshake never comes to a peer refused at the door.
void ExpectRefusedFrom(const Worker& worker, const bt::Sha1Digest& info_hash, uint32_t pieces,
                       const std::string& from) {
  absl::StatusOr<std::unique_ptr<FakePeer>> p =
      FakePeer::Connect(worker.listen_ip(), worker.listen_port(), pieces, from);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->SendHandshake(info_hash).ok());
  absl::StatusOr<bt::Message> m = (*p)->Next(kWait);
  EXPECT_TRUE(absl::IsUnavailable(m.status())) << from << ": " << m.status();
}

// One address opening many connections (the stall issue 11 describes) gets a few; peers
// dialling in never get the slots kept for the peers the coordinator hands out.
TEST_F(UploadTest, PeersDiallingInCannotHogTheSlots) {
  StartWorker({}, 4, false, [](Worker::Options* o) {
    o->max_peers = 6;  // a fifth, so one slot, is kept for our own dials
    o->max_incoming_per_ip = 2;
  });
  const bt::Sha1Digest hash = t_.metainfo.info_hash;
  std::vector<std::unique_ptr<FakePeer>> in;
  for (const char* from : {"127.0.0.2", "127.0.0.2"}) in.push_back(ConnectLeecher(true, from));
  ExpectRefusedFrom(*worker_, hash, num_pieces(), "127.0.0.2");
  for (const char* from : {"127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
    in.push_back(ConnectLeecher(true, from));
  }
  for (const auto& p : in) ASSERT_NE(p, nullptr);
  ExpectRefusedFrom(*worker_, hash, num_pieces(), "127.0.0.6");  // 5 in: the rest is ours
  // The kept slot: the worker dials the peer the coordinator gives it.
  absl::StatusOr<std::unique_ptr<FakePeer>> seeder = FakePeer::Listen("127.0.0.7", num_pieces());
  ASSERT_TRUE(seeder.ok()) << seeder.status();
  PushPeer("127.0.0.7", (*seeder)->port());
  ASSERT_TRUE((*seeder)->Accept(kWait).ok());
  ExpectWorkerHandshake(**seeder, true);
}

// The slots kept for our own dials are never all of them: a worker of one slot still serves a
// peer that dials it.
TEST_F(UploadTest, AWorkerOfOneSlotTakesAPeerThatDialsIt) {
  StartWorker({}, 4, false, [](Worker::Options* o) { o->max_peers = 1; });
  std::unique_ptr<FakePeer> p = ConnectLeecher();
  ASSERT_NE(p, nullptr);
  ExpectNext(*p, MessageType::kHaveAll);
}

TEST_F(UploadTest, DialsALeecherGivenByAddPeersAndUploadsToIt) {
  StartWorker();
  absl::StatusOr<std::unique_ptr<FakePeer>> p = FakePeer::Listen("127.0.0.1", num_pieces());
  ASSERT_TRUE(p.ok()) << p.status();
  PushPeer("127.0.0.1", (*p)->port());
  ASSERT_TRUE((*p)->Accept(kWait).ok());
  ExpectWorkerHandshake(**p, true);  // the dialling side speaks first
  ASSERT_TRUE((*p)->SendHandshake(t_.metainfo.info_hash).ok());
  ExpectNext(**p, MessageType::kHaveAll);
  GetUnchoked(**p);
  DownloadAndCheck(**p, AllPieces());
}

TEST_F(UploadTest, TwoSeedsPartAtOnce) {
  StartWorker();
  std::unique_ptr<FakePeer> p = ConnectLeecher();
  ASSERT_NE(p, nullptr);
  ExpectNext(*p, MessageType::kHaveAll);
  ASSERT_TRUE(p->Send(Msg([](std::string* o) { bt::AppendHaveAll(o); })).ok());
  EXPECT_TRUE(p->WaitForClose(kWait));
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return !c.closed.empty(); },
      kWait));
  absl::MutexLock lock(&coordinator_->mu);
  EXPECT_FALSE(coordinator_->closed[0].banned());
  EXPECT_THAT(coordinator_->closed[0].reason(), HasSubstr("nothing to trade"));
}

TEST_F(UploadTest, DownloadsFromAPeerThatConnectsToIt) {
  // The connection works both ways whoever opened it: the worker fetches its missing piece
  // from a seeder that connected to it.
  StartWorker(/*missing=*/{4}, 4, /*grant_leases=*/true);
  std::unique_ptr<FakePeer> p = ConnectLeecher();
  ASSERT_NE(p, nullptr);
  absl::StatusOr<bt::Message> m = p->NextPayload(kWait);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->type, MessageType::kBitfield);
  ASSERT_TRUE(p->Send(Msg([](std::string* o) { bt::AppendHaveAll(o); })).ok());
  ASSERT_TRUE(p->NextOfType(MessageType::kInterested, kWait).ok());
  ASSERT_TRUE(p->Send(Msg([](std::string* o) { bt::AppendUnchoke(o); })).ok());
  const bt::PieceLayout layout = t_.metainfo.layout();
  for (uint32_t b = 0; b < layout.num_blocks(4); ++b) {
    absl::StatusOr<bt::Message> r = p->NextOfType(MessageType::kRequest, kWait);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->index, 4u);
    const uint32_t begin = r->begin;
    const uint32_t length = r->length;
    ASSERT_TRUE(p->Send(Msg([&](std::string* o) {
                   bt::AppendPiece(o, 4, begin, Block(4, begin, length));
                 })).ok());
  }
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return c.done.count(4) > 0; },
      kWait));
  // Now a seed, talking to a seed: the worker parts.
  EXPECT_TRUE(p->WaitForClose(kWait));
  // And tells the coordinator it wants no more leases, only peers to serve.
  EXPECT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
        return !c.request_log.empty() && c.request_log.back().max_pieces() == 0 &&
               c.request_log.size() > 1;
      },
      kWait));
}

TEST_F(UploadTest, DiallingItselfBansItsOwnAddress) {
  // Trackers hand a worker its own address among the peers.
  StartWorker();
  PushPeer(worker_->listen_ip(), worker_->listen_port());
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return !c.closed.empty(); },
      kWait));
  absl::MutexLock lock(&coordinator_->mu);
  ASSERT_EQ(coordinator_->closed.size(), 1u);
  EXPECT_EQ(coordinator_->closed[0].peer().port(), worker_->listen_port());
  EXPECT_TRUE(coordinator_->closed[0].banned());
  EXPECT_THAT(coordinator_->closed[0].reason(), HasSubstr("ourselves"));
}

}  // namespace
}  // namespace swarm::peer_svc
