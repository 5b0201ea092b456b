#include "peer_svc/worker.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/testing/files.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "peer_svc/testing/fake_coordinator.h"
#include "peer_svc/testing/fake_seeder.h"
#include "peer_svc/testing/test_torrent.h"
#include "proto/coordinator.grpc.pb.h"
#include "storage/content_files.h"

namespace swarm::peer_svc {
namespace {

using ::swarm::testing::ReadWholeFile;

using ::swarm::peer_svc::testing::FakeCoordinator;
using ::swarm::peer_svc::testing::FakeSeeder;
using ::swarm::peer_svc::testing::MakeTestTorrent;
using ::swarm::peer_svc::testing::TestTorrent;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(60);

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    output_dir_ = absl::StrCat(::testing::TempDir(), "/",
                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    mkdir(output_dir_.c_str(), 0755);
    // The coordinator lays the files out before leasing; the worker opens them as they are.
    ASSERT_TRUE(storage::ContentFiles::Open(t_.metainfo, output_dir_,
                                                   storage::ContentMode::kCreate)
                    .ok());
  }

  // Gives the seeders' addresses out in this order, one per RequestWork.
  void StartCoordinator(std::vector<const FakeSeeder*> seeders,
                        const FakeCoordinator::Options& options = FakeCoordinator::Options(),
                        const std::string& listen = "127.0.0.1:0") {
    std::vector<pb::PeerAddress> peers;
    for (const FakeSeeder* s : seeders) {
      pb::PeerAddress& addr = peers.emplace_back();
      addr.set_ip(s->ip());
      addr.set_port(s->port());
    }
    coordinator_ = std::make_unique<FakeCoordinator>(t_, output_dir_, std::move(peers), options);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(coordinator_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  Worker::Options WorkerOptions() {
    Worker::Options o;
    o.coordinator = absl::StrCat("127.0.0.1:", port_);
    o.name = "test-worker";
    o.verbose = false;
    return o;
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  // 33 pieces of 64 KiB, the last one short.
  TestTorrent t_ = MakeTestTorrent("payload.bin", (2 << 20) + 12345, 64 * 1024);
  std::string output_dir_;
  std::unique_ptr<FakeCoordinator> coordinator_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(WorkerTest, DownloadsEveryPieceIntoTheOutputFile) {
  FakeSeeder seeder(t_, FakeSeeder::Options());
  ASSERT_TRUE(seeder.Start().ok());
  StartCoordinator({&seeder});
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(WorkerOptions());
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ((*worker)->worker_id(), 7u);

  ASSERT_TRUE(coordinator_->WaitForAllDone(kWait));
  EXPECT_EQ(ReadWholeFile(output_dir_ + "/payload.bin"), t_.content);
  (*worker)->Shutdown();
  EXPECT_TRUE((*worker)->Wait().ok());

  absl::MutexLock lock(&coordinator_->mu);
  ASSERT_EQ(coordinator_->registers.size(), 1u);
  const pb::Register& reg = coordinator_->registers[0];
  EXPECT_EQ(reg.peer_id().size(), 20u);
  EXPECT_EQ(reg.peer_id().substr(0, 8), "-SW0001-");
  EXPECT_EQ(reg.name(), "test-worker");
  EXPECT_TRUE(reg.sees_output());
  EXPECT_NE(reg.listen_port(), 0u) << "a worker always listens";
  EXPECT_EQ(reg.listen_port(), (*worker)->listen_port());
  EXPECT_EQ(reg.listen_ip(), "127.0.0.1");
  EXPECT_EQ(reg.max_peers(), 50u);
  for (const pb::PiecesDone::Piece& d : coordinator_->dones) {
    EXPECT_EQ(d.peer().ip(), "127.0.0.1");
    EXPECT_EQ(d.peer().port(), seeder.port());
  }
  EXPECT_TRUE(coordinator_->failures.empty());
  EXPECT_EQ(coordinator_->duplicate_dones, 0);
  // Reported in batches, not a message per piece.
  EXPECT_LT(coordinator_->done_batches.size(), coordinator_->dones.size());
  ASSERT_FALSE(coordinator_->bitfields.empty());
  EXPECT_EQ(coordinator_->bitfields[0].bitfield(), std::string(4, '\xff') + '\x80');
  EXPECT_GE(coordinator_->work_requests, 1);
  ASSERT_EQ(seeder.stats().peer_ids.size(), 1u);
  EXPECT_EQ(seeder.stats().peer_ids[0], reg.peer_id());
}

// With room for three pieces at once, two peers still deliver every piece, and the worker
// never holds more (the seeders would happily fill 50 connections' worth of pipelines).
TEST_F(WorkerTest, PieceBuffersStayWithinTheWorkersMemoryBudget) {
  FakeSeeder a(t_, FakeSeeder::Options());
  FakeSeeder b(t_, FakeSeeder::Options());
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  StartCoordinator({&a, &b});
  Worker::Options o = WorkerOptions();
  o.piece_memory_bytes = 3 * 64 * 1024;
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_TRUE(coordinator_->WaitForAllDone(kWait));
  EXPECT_EQ(ReadWholeFile(output_dir_ + "/payload.bin"), t_.content);
  EXPECT_LE((*worker)->piece_memory().peak(), o.piece_memory_bytes);
  EXPECT_GT((*worker)->piece_memory().peak(), 0u);
  (*worker)->Shutdown();
  EXPECT_TRUE((*worker)->Wait().ok());
}

// A ban goes by address: when one port of an address breaks the protocol, the worker also
// ends the connection it has to another port of that address.
TEST_F(WorkerTest, ABannedAddressLosesItsOtherConnectionsToo) {
  FakeSeeder::Options quiet;
  quiet.serve = false;  // connected, sending nothing: it would stay for a long while
  FakeSeeder b(t_, quiet);
  FakeSeeder::Options pushy;
  pushy.push_unrequested_blocks = 1000;
  FakeSeeder a(t_, pushy);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  StartCoordinator({&b});
  Worker::Options o = WorkerOptions();
  o.job.connection.max_unrequested_bytes = 100'000;
  o.job.connection.snub_timeout = absl::Minutes(10);  // b is not dropped for its silence
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return !c.bitfields.empty(); },
      kWait));

  pb::CoordinatorMessage add;
  add.mutable_add_peers()->set_job_id(coordinator_->job_id);
  pb::PeerAddress* addr = add.mutable_add_peers()->add_peers();
  addr->set_ip(a.ip());
  addr->set_port(a.port());
  ASSERT_TRUE(coordinator_->Push(add));
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return c.closed.size() >= 2; },
      kWait));
  absl::MutexLock lock(&coordinator_->mu);
  EXPECT_EQ(coordinator_->closed[0].peer().port(), a.port());
  EXPECT_TRUE(coordinator_->closed[0].misbehaved());
  EXPECT_EQ(coordinator_->closed[1].peer().port(), b.port());
  EXPECT_FALSE(coordinator_->closed[1].banned()) << "itself it did nothing wrong";
}

// And by peer id: the same client from another address is refused at its handshake.
TEST_F(WorkerTest, ABannedPeerIdIsRefusedFromAnotherAddress) {
  FakeSeeder::Options pushy;
  pushy.push_unrequested_blocks = 1000;
  FakeSeeder a(t_, pushy);
  FakeSeeder::Options elsewhere;
  elsewhere.ip = "127.0.0.2";  // the same peer id as `a`, as every FakeSeeder has
  FakeSeeder b(t_, elsewhere);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  StartCoordinator({&a});
  Worker::Options o = WorkerOptions();
  o.job.connection.max_unrequested_bytes = 100'000;
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return !c.closed.empty(); },
      kWait));

  pb::CoordinatorMessage add;
  add.mutable_add_peers()->set_job_id(coordinator_->job_id);
  pb::PeerAddress* addr = add.mutable_add_peers()->add_peers();
  addr->set_ip(b.ip());
  addr->set_port(b.port());
  ASSERT_TRUE(coordinator_->Push(add));
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return c.closed.size() >= 2; },
      kWait));
  absl::MutexLock lock(&coordinator_->mu);
  EXPECT_TRUE(coordinator_->closed[0].misbehaved());
  EXPECT_EQ(coordinator_->closed[1].peer().ip(), "127.0.0.2");
  EXPECT_TRUE(coordinator_->closed[1].banned());
  EXPECT_THAT(coordinator_->closed[1].reason(), HasSubstr("was banned"));
  EXPECT_EQ(b.stats().blocks_served, 0u);
}

TEST_F(WorkerTest, HashFailureIsReportedAndThePieceFetchedAgain) {
  FakeSeeder::Options so;
  so.corrupt_piece = 5;
  so.corrupt_times = 1;
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  StartCoordinator({&seeder});
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(WorkerOptions());
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_TRUE(coordinator_->WaitForAllDone(kWait));
  EXPECT_EQ(ReadWholeFile(output_dir_ + "/payload.bin"), t_.content);
  absl::MutexLock lock(&coordinator_->mu);
  ASSERT_EQ(coordinator_->failures.size(), 1u);
  const pb::PieceFailed& f = coordinator_->failures[0];
  EXPECT_EQ(f.piece(), 5u);
  EXPECT_EQ(f.reason(), pb::HASH_MISMATCH);
  EXPECT_EQ(f.peer().port(), seeder.port());
}

TEST_F(WorkerTest, HeartbeatsCarryLeaseProgress) {
  FakeSeeder::Options so;
  so.stall_after_blocks = 6;  // piece 0 whole, then half of piece 1, then nothing
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  StartCoordinator({&seeder});
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(WorkerOptions());
  ASSERT_TRUE(worker.ok()) << worker.status();
  // Progress is reported as it comes: a heartbeat may catch piece 0 or 1 half done. The one
  // to wait for shows piece 1 as far as the seeder went, once piece 0 is reported done.
  auto half_of_piece_1 = [](const pb::Heartbeat& h) {
    for (const auto& p : h.progress()) {
      if (p.piece() == 1 && p.bytes_received() == 2 * 16384) return true;
    }
    return false;
  };
  ASSERT_TRUE(coordinator_->WaitUntil(
      [&](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
        return c.done.count(0) == 1 &&
               std::any_of(c.heartbeats.begin(), c.heartbeats.end(), half_of_piece_1);
      },
      kWait));
  (*worker)->Shutdown();
  absl::MutexLock lock(&coordinator_->mu);
  for (const pb::Heartbeat& h : coordinator_->heartbeats) {
    for (const auto& p : h.progress()) EXPECT_EQ(p.job_id(), "job-1");
    if (half_of_piece_1(h)) {
      EXPECT_GE(h.downloaded_bytes(), 6u * 16384) << "piece 0 and half of piece 1 arrived";
    }
  }
  EXPECT_EQ(coordinator_->done.size(), 1u);
}

TEST_F(WorkerTest, EndgameFetchesAStalledPieceFromAnotherPeer) {
  // The first peer serves two blocks and then nothing, keeping its pieces in flight; the
  // second arrives a little later. With every lease out and none left to ask for, the worker
  // fetches the stalled pieces from the second peer too and cancels them on the first.
  FakeSeeder::Options slow_options;
  slow_options.stall_after_blocks = 2;
  FakeSeeder slow(t_, slow_options);
  FakeSeeder fast(t_, FakeSeeder::Options());
  ASSERT_TRUE(slow.Start().ok());
  ASSERT_TRUE(fast.Start().ok());
  FakeCoordinator::Options co;
  co.stagger_peers = true;
  // A StopJob right after the last piece would close the slow connection before it sends
  // its cancels: the job stays, the worker seeds, and leaves the two seeders in good order.
  co.stop_when_done = false;
  StartCoordinator({&slow, &fast}, co);
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(WorkerOptions());
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_TRUE(coordinator_->WaitForAllDone(kWait));
  EXPECT_EQ(ReadWholeFile(output_dir_ + "/payload.bin"), t_.content);
  EXPECT_GT(slow.stats().requests, 0u);
  EXPECT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return c.closed.size() == 2; },
      kWait))
      << "both seeders are left once the worker has every piece";
  // The cancels went out before the slow connection closed; the seeder reads them before
  // the end of the stream.
  EXPECT_TRUE(slow.WaitFor([](const FakeSeeder::Stats& s) { return s.cancels > 0; }, kWait))
      << "the slow peer's copies were cancelled";
  (*worker)->Shutdown();
  absl::MutexLock lock(&coordinator_->mu);
  for (const pb::PeerClosed& c : coordinator_->closed) {
    // Once the worker has every piece it leaves the seeders (two seeds have nothing to
    // trade); no peer is dropped for being slow.
    EXPECT_THAT(c.reason(), HasSubstr("nothing to trade")) << "nobody was dropped";
    EXPECT_FALSE(c.banned());
  }
  EXPECT_EQ(coordinator_->duplicate_dones, 0);
  for (const pb::PiecesDone::Piece& d : coordinator_->dones) {
    EXPECT_EQ(d.peer().port(), fast.port()) << "the slow peer never finishes a piece";
  }
}

TEST_F(WorkerTest, LostPeerIsReportedAndItsPiecesHandedBack) {
  FakeSeeder::Options so;
  so.disconnect_after_blocks = 6;  // piece 0, half of piece 1, gone
  FakeSeeder seeder(t_, so);
  ASSERT_TRUE(seeder.Start().ok());
  StartCoordinator({&seeder});
  Worker::Options o = WorkerOptions();
  o.job.orphan_grace = absl::Milliseconds(100);
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  ASSERT_TRUE(worker.ok()) << worker.status();
  // With no peer left, every lease it holds goes back as ABANDONED.
  ASSERT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) {
        return !c.closed.empty() && !c.failures.empty() && c.needed.size() + 1 == 33 &&
               c.done.count(0) == 1;
      },
      kWait));
  (*worker)->Shutdown();
  absl::MutexLock lock(&coordinator_->mu);
  ASSERT_EQ(coordinator_->closed.size(), 1u);
  const pb::PeerClosed& closed = coordinator_->closed[0];
  EXPECT_EQ(closed.peer().port(), seeder.port());
  EXPECT_FALSE(closed.banned());
  EXPECT_THAT(closed.reason(), HasSubstr("peer closed the connection"));
  EXPECT_THAT(closed.reason(), HasSubstr("(peer id SSSSSSSS...)"));
  EXPECT_THAT(coordinator_->done, ::testing::ElementsAre(0));
  for (const pb::PieceFailed& f : coordinator_->failures) {
    EXPECT_EQ(f.reason(), pb::ABANDONED) << f.DebugString();
  }
}

TEST_F(WorkerTest, WildcardListenAddressIsRegisteredEmpty) {
  // Bound to every interface: the coordinator is to announce the address it sees us at.
  FakeSeeder seeder(t_, FakeSeeder::Options());
  FakeCoordinator::Options co;
  co.auth_token = "t0k";
  StartCoordinator({&seeder}, co);
  Worker::Options o = WorkerOptions();
  o.listen_ip = "0.0.0.0";
  // Its PieceSink then listens on every address too, which takes a token.
  absl::StatusOr<std::unique_ptr<Worker>> refused = Worker::Start(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("without an auth token"));
  o.auth_token = "t0k";
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  ASSERT_TRUE(worker.ok()) << worker.status();
  (*worker)->Shutdown();
  absl::MutexLock lock(&coordinator_->mu);
  ASSERT_EQ(coordinator_->registers.size(), 1u);
  EXPECT_EQ(coordinator_->registers[0].listen_ip(), "");
  EXPECT_EQ(coordinator_->registers[0].listen_port(), (*worker)->listen_port());
}

TEST_F(WorkerTest, ListenAddressDefaultsToTheBindAddress) {
  FakeSeeder seeder(t_, FakeSeeder::Options());
  StartCoordinator({&seeder});
  Worker::Options o = WorkerOptions();
  o.bind_ip = "127.0.0.5";
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ((*worker)->listen_ip(), "127.0.0.5");
  (*worker)->Shutdown();
  absl::MutexLock lock(&coordinator_->mu);
  EXPECT_EQ(coordinator_->registers[0].listen_ip(), "127.0.0.5");
}

TEST_F(WorkerTest, WrongTokenIsRefused) {
  FakeSeeder seeder(t_, FakeSeeder::Options());
  FakeCoordinator::Options co;
  co.auth_token = "secret";
  StartCoordinator({&seeder}, co);
  Worker::Options o = WorkerOptions();
  o.auth_token = "guess";
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  EXPECT_TRUE(absl::IsUnauthenticated(worker.status())) << worker.status();
}

TEST_F(WorkerTest, NoCoordinator) {
  Worker::Options o;
  o.coordinator = "127.0.0.1:1";
  o.connect_timeout = absl::Milliseconds(300);
  o.verbose = false;
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  EXPECT_TRUE(absl::IsUnavailable(worker.status())) << worker.status();
}

TEST_F(WorkerTest, GivesUpWhenTheCoordinatorIsGone) {
  FakeSeeder seeder(t_, FakeSeeder::Options());
  ASSERT_TRUE(seeder.Start().ok());
  StartCoordinator({&seeder});
  Worker::Options o = WorkerOptions();
  o.reconnect_attempts = 2;
  o.reconnect_backoff = absl::Milliseconds(10);
  o.reconnect_timeout = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  ASSERT_TRUE(worker.ok()) << worker.status();
  // Gone for good: in-flight calls cancelled, the port closed.
  server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  const absl::Status status = (*worker)->Wait();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("gave up after 2 reconnect attempts"));
}

// A coordinator that is away for a while (restarting, unreachable) does not lose its
// workers: they keep trying, and register again when it is back at the same address.
TEST_F(WorkerTest, KeepsTryingToReachItsCoordinatorUntilItIsBack) {
  FakeSeeder seeder(t_, FakeSeeder::Options());
  ASSERT_TRUE(seeder.Start().ok());
  // A Unix socket, so that the coordinator comes back at the very same address (its path is
  // limited to 107 bytes: the test's own temp folder may be longer).
  char dir[] = "/tmp/swarm-worker-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string socket = absl::StrCat(dir, "/coordinator.sock");
  const std::string address = "unix:" + socket;
  StartCoordinator({&seeder}, FakeCoordinator::Options(), address);
  Worker::Options o = WorkerOptions();
  o.coordinator = address;
  o.reconnect_backoff = absl::Milliseconds(10);
  o.max_reconnect_backoff = absl::Milliseconds(20);
  o.reconnect_timeout = absl::Milliseconds(100);
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(o);
  ASSERT_TRUE(worker.ok()) << worker.status();
  server_->Shutdown(std::chrono::system_clock::now());
  server_.reset();
  // Away for more attempts than a worker used to make before it gave up (3).
  const absl::Time deadline = absl::Now() + kWait;
  while ((*worker)->failed_reconnects() < 6 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GE((*worker)->failed_reconnects(), 6);
  StartCoordinator({&seeder}, FakeCoordinator::Options(), address);
  EXPECT_TRUE(coordinator_->WaitUntil(
      [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return !c.registers.empty(); },
      kWait))
      << "the worker did not register again";
  (*worker)->Shutdown();
  EXPECT_TRUE((*worker)->Wait().ok());
  unlink(socket.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace swarm::peer_svc
