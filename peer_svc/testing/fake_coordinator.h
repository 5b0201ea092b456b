// A coordinator for tests of the worker: one job, any number of sessions. It welcomes each
// worker (heartbeats every 100 ms), starts the job (with the pieces given to SetVerified as
// verified), hands out its peers (one more with each RequestWork that has room for peers) and
// as many leases as RequestWork asks for, takes failed pieces back as needed, and stops the
// job once every piece is done (not when it started complete: a seeding job). Tests may also
// push messages of their own (AddPeers, PiecesVerified) into the session. It records what the
// worker said, for the test to check: under `mu`, also in WaitUntil's predicate.
//
//   FakeCoordinator c(torrent, "/tmp/out", {seeder_address});
//   grpc::ServerBuilder b; b.AddListeningPort("127.0.0.1:0", ..., &port);
//   b.RegisterService(&c); auto server = b.BuildAndStart();
//   ... start a Worker on 127.0.0.1:port ...
//   ASSERT_TRUE(c.WaitUntil(
//       [](FakeCoordinator& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu) { return !c.closed.empty(); },
//       absl::Seconds(60)));
//   ASSERT_TRUE(c.WaitForAllDone(absl::Seconds(60)));
#ifndef SWARM_PEER_SVC_TESTING_FAKE_COORDINATOR_H_
#define SWARM_PEER_SVC_TESTING_FAKE_COORDINATOR_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "peer_svc/testing/test_torrent.h"
#include "proto/coordinator.grpc.pb.h"

namespace swarm::peer_svc::testing {

class FakeCoordinator final : public pb::Coordinator::Service {
 public:
  struct Options {
    // Register must carry this token.
    std::string auth_token;
    // Hand out peers after the first only once a heartbeat has shown lease progress (so the
    // first peer surely has pieces in flight).
    bool stagger_peers = false;
    // False: never grant leases (upload tests, where the worker is to fetch nothing).
    bool grant_leases = true;
    // False: keep the job running once every piece is done (the worker seeds on), instead of
    // sending StopJob, which closes the worker's connections at once.
    bool stop_when_done = true;
  };

  FakeCoordinator(const TestTorrent& t, std::string output_dir,
                  std::vector<pb::PeerAddress> peers);
  FakeCoordinator(const TestTorrent& t, std::string output_dir,
                  std::vector<pb::PeerAddress> peers, const Options& options);

  const std::string job_id = "job-1";

  // StartJob.verified (a bitfield); those pieces are not leased. Before the first worker
  // connects.
  void SetVerified(const std::string& bitfield);
  // Writes `m` into the current session; false when there is none.
  bool Push(const pb::CoordinatorMessage& m);

  grpc::Status Work(grpc::ServerContext* ctx,
                    grpc::ServerReaderWriter<pb::CoordinatorMessage,
                                             pb::WorkerMessage>* stream) override;
  grpc::Status FetchTorrent(grpc::ServerContext* ctx, const pb::FetchTorrentRequest* req,
                            pb::FetchTorrentResponse* resp) override;

  bool WaitForAllDone(absl::Duration timeout);
  // Waits until `done(*this)` holds; false after `timeout`. `done` runs with `mu` held: a
  // lambda that reads the fields below says so with ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.mu), as
  // in the example above.
  bool WaitUntil(const std::function<bool(FakeCoordinator&)>& done, absl::Duration timeout);

  absl::Mutex mu;
  std::set<uint32_t> needed ABSL_GUARDED_BY(mu);
  std::set<uint32_t> done ABSL_GUARDED_BY(mu);
  std::vector<pb::Register> registers ABSL_GUARDED_BY(mu);
  // Every piece reported done, and the size of each PiecesDone.
  std::vector<pb::PiecesDone::Piece> dones ABSL_GUARDED_BY(mu);
  std::vector<int> done_batches ABSL_GUARDED_BY(mu);
  std::vector<pb::PieceFailed> failures ABSL_GUARDED_BY(mu);
  std::vector<pb::PeerBitfield> bitfields ABSL_GUARDED_BY(mu);
  std::vector<pb::PeerClosed> closed ABSL_GUARDED_BY(mu);
  std::vector<pb::PeersLearned> learned ABSL_GUARDED_BY(mu);
  std::vector<pb::Heartbeat> heartbeats ABSL_GUARDED_BY(mu);
  int work_requests ABSL_GUARDED_BY(mu) = 0;
  std::vector<pb::RequestWork> request_log ABSL_GUARDED_BY(mu);
  // Pieces reported done twice.
  int duplicate_dones ABSL_GUARDED_BY(mu) = 0;

 private:
  using Stream = grpc::ServerReaderWriter<pb::CoordinatorMessage, pb::WorkerMessage>;
  // gRPC allows one writer at a time: the session's thread and Push share this.
  bool Write(Stream* stream, const pb::CoordinatorMessage& m);

  const TestTorrent& t_;
  const Options options_;
  const std::string output_dir_;
  const std::vector<pb::PeerAddress> peers_;
  std::string verified_ ABSL_GUARDED_BY(mu);
  absl::Mutex write_mu_;
  Stream* stream_ ABSL_GUARDED_BY(write_mu_) = nullptr;
};

}  // namespace swarm::peer_svc::testing

#endif  // SWARM_PEER_SVC_TESTING_FAKE_COORDINATOR_H_
