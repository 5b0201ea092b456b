// Several hosts on one machine, for tests that cross machines: each host is a Linux network
// namespace with one interface (eth0, 10.77.0.N/24) on a private bridge. The bridge lives in
// a namespace of its own too, so the machine's own network is never touched. A host may have
// a bandwidth cap, both ways (htb on both ends of its link: this kernel has htb but not tbf
// or netem), and may start processes that cannot see some folders (a private mount namespace
// with an empty tmpfs over them), as a machine without the shared storage.
//
// Each host has a thread of its own that has entered its network namespace: what runs there
// (sockets a test opens, processes it starts) is on that host. Processes started on a host
// are killed with the lab at the latest. The destructor kills every process left in the
// lab's namespaces and deletes them, which removes every link; Create() also removes labs
// left behind by a test process that died.
//
// Needs root and iproute2 (ip, tc), as in CI; Create() says clearly what is missing.
//
//   SWARM_ASSIGN_OR_RETURN(std::unique_ptr<NetLab> lab, NetLab::Create());
//   SWARM_ASSIGN_OR_RETURN(NetHost* w1, lab->AddHost("w1", {.rate_bits_per_s = 100'000'000}));
//   SWARM_ASSIGN_OR_RETURN(auto worker, w1->Start({"peer_svc/peer_svc", ...}, {}, {shared}));
#ifndef SWARM_TESTS_TESTING_NET_LAB_H_
#define SWARM_TESTS_TESTING_NET_LAB_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "process/subprocess.h"

namespace swarm::testing {

struct NetHostOptions {
  // Cap on the host's upload and on its download, each (0: none).
  uint64_t rate_bits_per_s = 0;
};

class NetHost {
 public:
  ~NetHost();

  const std::string& name() const { return name_; }
  // The host's address on the lab's bridge (IPv4 text).
  const std::string& ip() const { return ip_; }
  // The network namespace's name (for `ip netns exec` by hand).
  const std::string& netns() const { return netns_; }

  // Takes the host's link down (a cut cable: nothing in or out, no reset sent) or up again.
  absl::Status SetLinkUp(bool up);

  // Runs `fn` on the host's thread and returns its status.
  absl::Status Run(const std::function<absl::Status()>& fn);

  // Starts `argv` on this host. Folders in `hidden` are covered by an empty tmpfs for this
  // process and its children: a folder below one of them does not exist there.
  absl::StatusOr<std::unique_ptr<process::Subprocess>> Start(
      const std::vector<std::string>& argv, const process::SubprocessOptions& options = {},
      const std::vector<std::string>& hidden = {});

 private:
  friend class NetLab;
  NetHost(std::string name, std::string ip, std::string netns);
  absl::Status Enter();  // starts the thread, which joins the namespace
  void Loop();           // runs tasks until the host is destroyed

  const std::string name_;
  const std::string ip_;
  const std::string netns_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class NetLab {
 public:
  // FAILED_PRECONDITION with what is missing (root, iproute2) when namespaces cannot be made.
  static absl::StatusOr<std::unique_ptr<NetLab>> Create();
  ~NetLab();

  // A new host on the bridge; names are for messages and must be unique in the lab.
  absl::StatusOr<NetHost*> AddHost(const std::string& name, NetHostOptions options = {});

 private:
  explicit NetLab(std::string prefix) : prefix_(std::move(prefix)) {}

  const std::string prefix_;  // of every namespace name: "swlab<pid>-<lab>-"
  std::string switch_netns_;
  std::vector<std::unique_ptr<NetHost>> hosts_;
};

}  // namespace swarm::testing

#endif  // SWARM_TESTS_TESTING_NET_LAB_H_
