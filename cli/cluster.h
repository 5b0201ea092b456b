// The embedded default of `swarm-cli download`: tracker_svc, a coordinator and N peer
// workers as child processes, talking gRPC over Unix sockets in a private folder (the
// workers' peer connections are TCP as always), started together (the workers as soon as
// the coordinator listens) and all stopped when the cluster is destroyed (and, through
// PR_SET_PDEATHSIG, when swarm-cli dies).
//
//   SWARM_ASSIGN_OR_RETURN(auto cluster, EmbeddedCluster::Start({.workers = 3}));
//   Connect(cluster->coordinator_address());
#ifndef SWARM_CLI_CLUSTER_H_
#define SWARM_CLI_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "process/subprocess.h"

namespace swarm::cli {

struct ClusterOptions {
  int workers = 2;
  // Source addresses for the workers' peer connections, used round-robin (empty: any).
  std::vector<std::string> worker_bind_ips;
  // Show the services' own stderr (diagnostics) instead of hiding it.
  bool verbose = false;
  // The coordinator's --state_dir (absolute; empty: no resume records).
  std::string state_dir;
};

class EmbeddedCluster {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedCluster>> Start(const ClusterOptions& options);
  ~EmbeddedCluster();  // Stop()

  const std::string& coordinator_address() const { return coordinator_address_; }
  // The random secret the coordinator was started with; every call to it must carry it.
  const std::string& auth_token() const { return auth_token_; }
  // Stops the workers first (so no new writes start), then the coordinator (which sends its
  // stopped announce through tracker_svc), then tracker_svc.
  void Stop();

 private:
  EmbeddedCluster() = default;
  std::unique_ptr<process::Subprocess> tracker_svc_;
  std::unique_ptr<process::Subprocess> coordinator_;
  std::vector<std::unique_ptr<process::Subprocess>> workers_;
  std::string coordinator_address_;
  std::string auth_token_;
  // The folder of the services' Unix sockets, removed by Stop.
  std::string socket_dir_;
};

// The number of workers a machine sensibly runs: one per core, at least 2, at most 8.
int DefaultWorkerCount();

// Where the embedded cluster keeps its resume records: $XDG_STATE_HOME/swarm, or
// $HOME/.local/state/swarm (the XDG default); an error when neither is set.
absl::StatusOr<std::string> DefaultStateDir();

}  // namespace swarm::cli

#endif  // SWARM_CLI_CLUSTER_H_
