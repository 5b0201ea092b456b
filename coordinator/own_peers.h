// The coordinator's own workers as the swarm sees them: their listening addresses (PeerPool
// keys), their peer ids, and the ones a job announces as peers of their own. Once announced,
// our workers come back in tracker answers like any other peer; jobs read this so that a
// worker is never handed itself or another of our workers, and so that each job announces
// every listening worker. The server publishes a new snapshot whenever a worker registers or
// leaves; a reader keeps the snapshot it got for as long as it likes.
//
// Thread-safe. Its mutex is a leaf: the server takes it under Service::mu_, jobs under
// Job::mu_, and nothing is locked while holding it.
//
//   OwnPeers own;
//   auto next = std::make_shared<OwnPeers::Snapshot>();
//   next->keys.insert("10.0.0.5:51413");
//   own.Set(std::move(next));                                   // server: a worker registered
//   if (own.Get()->keys.contains(peer.Key())) ...               // job: not a swarm peer
#ifndef SWARM_COORDINATOR_OWN_PEERS_H_
#define SWARM_COORDINATOR_OWN_PEERS_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/announce_schedule.h"

namespace swarm::coordinator {

class OwnPeers {
 public:
  struct Snapshot {
    // "ip:port" (PeerPool::Key form) of every connected worker that listens.
    absl::flat_hash_set<std::string> keys;
    // Their 20-byte peer ids, for tracker answers in the dictionary model.
    absl::flat_hash_set<std::string> peer_ids;
    // The workers a job announces (they listen and can read the output), in worker order.
    std::vector<AnnounceIdentity> announced;
    // Connected workers that can read the output: the ones a job's peers are shared among.
    size_t output_workers = 0;
    // Connected workers that take peers, per host (WorkerInfo.host; Unix sockets left out):
    // a worker alone on its host may hold every peer (it shares them with other hosts).
    absl::flat_hash_map<std::string, size_t> workers_per_host;
    // PieceSink addresses of the connected workers (Register.sink_address), in worker order:
    // where a worker that cannot see a job's folder streams its pieces (StartJob.sinks).
    std::vector<std::string> sinks;
  };

  OwnPeers() : snapshot_(std::make_shared<const Snapshot>()) {}

  void Set(std::shared_ptr<const Snapshot> snapshot) {
    absl::MutexLock lock(&mu_);
    snapshot_ = std::move(snapshot);
  }
  std::shared_ptr<const Snapshot> Get() const {
    absl::MutexLock lock(&mu_);
    return snapshot_;
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::coordinator

#endif  // SWARM_COORDINATOR_OWN_PEERS_H_
