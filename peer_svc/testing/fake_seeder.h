// A scriptable BitTorrent seeder for tests: listens on a loopback port (port 0, so tests never
// collide), answers handshakes for one torrent held in memory, sends its bitfield (or have-all)
// and unchokes whoever is interested, then serves every request at once — unless told to
// misbehave: choke mid-piece, corrupt a piece, reject requests, or hang up mid-piece.
// One thread accepts; each connection is served on a thread of its own with blocking I/O.
//
//   TestTorrent t = MakeTestTorrent("x", 1 << 20, 64 * 1024);
//   FakeSeeder::Options o;
//   o.corrupt_piece = 3;
//   FakeSeeder seeder(t, o);
//   ASSERT_TRUE(seeder.Start().ok());
//   Connect("127.0.0.1", seeder.port());
//   ...
//   EXPECT_GE(seeder.stats().max_queued_requests, 16u);
#ifndef SWARM_PEER_SVC_TESTING_FAKE_SEEDER_H_
#define SWARM_PEER_SVC_TESTING_FAKE_SEEDER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "peer_svc/testing/test_torrent.h"

namespace swarm::peer_svc::testing {

class FakeSeeder {
 public:
  struct Options {
    std::string ip = "127.0.0.1";
    // Offer the fast extension (BEP 6): then have-all, reject, and rejects on choke.
    bool fast = true;
    // With `fast`: announce pieces with have-all instead of a bitfield.
    bool have_all = false;
    // Pieces it does not have (bitfield cleared); requests for them are rejected / ignored.
    std::vector<uint32_t> missing_pieces;
    // Serve this piece with one byte flipped, the first `corrupt_times` times it is served.
    std::optional<uint32_t> corrupt_piece;
    int corrupt_times = 1 << 30;
    // Every connection: after serving this many blocks, choke (dropping, or with `fast`
    // rejecting, the requests queued), then unchoke right away. 0: never.
    uint32_t choke_after_blocks = 0;
    // Every connection: after serving this many blocks, close the socket. 0: never.
    uint32_t disconnect_after_blocks = 0;
    // Reject (with `fast`) the first `reject_times` requests for this piece.
    std::optional<uint32_t> reject_piece;
    int reject_times = 1 << 30;
    // False: read requests and never answer them (a peer that snubs us).
    bool serve = true;
    // Every connection: after serving this many blocks, answer nothing more. 0: never.
    uint32_t stall_after_blocks = 0;
    // Announce this request queue limit in a BEP 10 handshake (0: send none).
    uint32_t reqq = 0;
    // On unchoking: push this many 16 KiB blocks nobody asked for (of the last piece's
    // first block, over and over) before serving requests.
    uint32_t push_unrequested_blocks = 0;
    // After its bitfield: a `have` of piece 0 (which it announced already) this many times.
    uint32_t duplicate_haves = 0;
  };

  struct Stats {
    int connections = 0;
    uint64_t requests = 0;
    uint64_t blocks_served = 0;
    uint64_t cancels = 0;
    // Most requests seen waiting at once (read but not yet answered): the client's pipeline.
    uint64_t max_queued_requests = 0;
    // The 20-byte peer ids that the clients sent.
    std::vector<std::string> peer_ids;
    bool client_offered_fast = false;
  };

  FakeSeeder(const TestTorrent& torrent, const Options& options);
  ~FakeSeeder();

  absl::Status Start();
  uint16_t port() const { return port_; }
  const std::string& ip() const { return options_.ip; }
  Stats stats() const;
  // Waits until `done(stats)` holds; false after `timeout`.
  bool WaitFor(const std::function<bool(const Stats&)>& done, absl::Duration timeout) const;
  // Stops accepting and closes every connection.
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);
  bool ServeConnection(int fd);

  const TestTorrent& torrent_;
  const Options options_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable absl::Mutex mu_;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  int corrupted_ ABSL_GUARDED_BY(mu_) = 0;
  int rejected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace swarm::peer_svc::testing

#endif  // SWARM_PEER_SVC_TESTING_FAKE_SEEDER_H_
