#include "cli/cluster.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "cli/binaries.h"
#include "rpc/token_source.h"

namespace swarm::cli {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(20);

// The token goes in the child's environment: its command line is every local user's to read.
absl::StatusOr<std::unique_ptr<process::Subprocess>> StartService(
    const std::vector<std::string>& argv, const std::string& token, bool verbose) {
  process::SubprocessOptions options;
  options.quiet_stderr = !verbose;
  options.env = {{rpc::kAuthTokenEnv, token}};
  return process::Subprocess::Start(argv, options);
}

}  // namespace

absl::StatusOr<std::string> DefaultStateDir() {
  const char* xdg = std::getenv("XDG_STATE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return absl::StrCat(xdg, "/swarm");
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return absl::StrCat(home, "/.local/state/swarm");
  return absl::FailedPreconditionError("neither XDG_STATE_HOME nor HOME is set");
}

int DefaultWorkerCount() {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(2, std::min(8, cores));
}

absl::StatusOr<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Start(
    const ClusterOptions& options) {
  SWARM_ASSIGN_OR_RETURN(std::string tracker_bin, FindServiceBinary("tracker_svc"));
  SWARM_ASSIGN_OR_RETURN(std::string coordinator_bin, FindServiceBinary("coordinator"));
  SWARM_ASSIGN_OR_RETURN(std::string worker_bin, FindServiceBinary("peer_svc"));
  std::unique_ptr<EmbeddedCluster> cluster(new EmbeddedCluster());
  SWARM_ASSIGN_OR_RETURN(const std::string token, rpc::MakeRandomToken());
  cluster->auth_token_ = token;

  // The services talk over Unix sockets in a folder of our own: their addresses are known
  // before any of them runs, so tracker_svc and the coordinator start at once instead of
  // one after the other (each takes some 40 ms to come up), and no other user of this
  // machine can reach them.
  char dir[] = "/tmp/swarm-cluster.XXXXXX";
  if (mkdtemp(dir) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create a folder for the cluster's sockets: ", std::strerror(errno)));
  }
  cluster->socket_dir_ = dir;
  const std::string tracker_address = absl::StrCat("unix:", dir, "/tracker_svc.sock");
  cluster->coordinator_address_ = absl::StrCat("unix:", dir, "/coordinator.sock");

  SWARM_ASSIGN_OR_RETURN(
      cluster->tracker_svc_,
      StartService({tracker_bin, "--listen=" + tracker_address}, token, options.verbose));
  std::vector<std::string> coordinator_argv = {coordinator_bin,
                                               "--listen=" + cluster->coordinator_address_,
                                               "--tracker_svc=" + tracker_address};
  if (!options.state_dir.empty()) coordinator_argv.push_back("--state_dir=" + options.state_dir);
  // Our cluster runs the one job we give it: none saved, none taken up from another run.
  coordinator_argv.push_back("--keep_jobs=false");
  SWARM_ASSIGN_OR_RETURN(cluster->coordinator_,
                         StartService(coordinator_argv, token, options.verbose));
  // Workers start once the coordinator listens: one started earlier fails its first connect
  // and waits out gRPC's reconnect backoff, which costs more than the wait.
  auto line = cluster->coordinator_->ReadLineMatching("listening on", kStartTimeout);
  if (!line.ok()) {
    return absl::UnavailableError(
        absl::StrCat("coordinator did not start: ", line.status().message()));
  }
  for (int i = 0; i < options.workers; ++i) {
    std::vector<std::string> argv = {worker_bin, "--coordinator=" + cluster->coordinator_address_,
                                     absl::StrCat("--name=worker-", i)};
    if (!options.worker_bind_ips.empty()) {
      argv.push_back("--bind_ip=" + options.worker_bind_ips[i % options.worker_bind_ips.size()]);
    }
    SWARM_ASSIGN_OR_RETURN(auto worker, StartService(argv, token, options.verbose));
    cluster->workers_.push_back(std::move(worker));
  }

  // Ready when tracker_svc listens and every worker has registered, so that the job starts
  // with the whole cluster.
  line = cluster->tracker_svc_->ReadLineMatching("listening on", kStartTimeout);
  if (!line.ok()) {
    return absl::UnavailableError(
        absl::StrCat("tracker_svc did not start: ", line.status().message()));
  }
  for (auto& worker : cluster->workers_) {
    line = worker->ReadLineMatching("registered as worker", kStartTimeout);
    if (!line.ok()) {
      return absl::UnavailableError(
          absl::StrCat("peer_svc did not register: ", line.status().message()));
    }
    worker->DrainStdout();
  }
  cluster->tracker_svc_->DrainStdout();
  cluster->coordinator_->DrainStdout();
  return cluster;
}

EmbeddedCluster::~EmbeddedCluster() { Stop(); }

void EmbeddedCluster::Stop() {
  for (auto& w : workers_) w->Signal(SIGTERM);
  for (auto& w : workers_) w->Stop(absl::Seconds(5));
  workers_.clear();
  if (coordinator_) coordinator_->Stop(absl::Seconds(8));
  coordinator_.reset();
  if (tracker_svc_) tracker_svc_->Stop(absl::Seconds(5));
  tracker_svc_.reset();
  if (!socket_dir_.empty()) {
    unlink((socket_dir_ + "/coordinator.sock").c_str());
    unlink((socket_dir_ + "/tracker_svc.sock").c_str());
    rmdir(socket_dir_.c_str());
    socket_dir_.clear();
  }
}

}  // namespace swarm::cli
