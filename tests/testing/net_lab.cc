#include "tests/testing/net_lab.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"

namespace swarm::testing {
namespace {

constexpr char kNamePrefix[] = "swlab";

// iproute2's `ip` and `tc` live in /usr/sbin, which a test's PATH may lack.
std::string SystemTool(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    const std::string path = dir + name;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return name;
}

// Runs a command (ip or tc) to completion; its output goes into the error when it fails.
absl::StatusOr<std::string> RunCommand(std::vector<std::string> argv) {
  argv[0] = SystemTool(argv[0]);
  process::SubprocessOptions options;
  options.stderr_to_stdout = true;
  options.own_process_group = false;
  SWARM_ASSIGN_OR_RETURN(auto child, process::Subprocess::Start(argv, options));
  // ReadLineMatching on a needle that never comes reads everything until the child exits.
  child->ReadLineMatching("\x01never\x01", absl::Seconds(30)).IgnoreError();
  const std::optional<int> status = child->Wait(absl::Seconds(5));
  if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    return absl::InternalError(
        absl::StrCat("`", absl::StrJoin(argv, " "), "` failed: ", child->output()));
  }
  return child->output();
}

// Kills every process in the namespace, then deletes it (its links go with it).
void RemoveNetns(const std::string& netns) {
  if (absl::StatusOr<std::string> pids = RunCommand({"ip", "netns", "pids", netns}); pids.ok()) {
    for (absl::string_view line : absl::StrSplit(*pids, '\n', absl::SkipWhitespace())) {
      int pid = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &pid) && pid > 1) kill(pid, SIGKILL);
    }
  }
  RunCommand({"ip", "netns", "del", netns}).IgnoreError();
}

// Namespaces of labs whose test process is gone ("swlab<pid>-...", pid not alive).
void RemoveAbandonedLabs() {
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return;
  std::vector<std::string> abandoned;
  while (dirent* e = readdir(dir)) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumePrefix(&name, kNamePrefix)) continue;
    int pid = 0;
    if (!absl::SimpleAtoi(name.substr(0, name.find('-')), &pid)) continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) abandoned.emplace_back(e->d_name);
  }
  closedir(dir);
  for (const std::string& netns : abandoned) RemoveNetns(netns);
}

}  // namespace

NetHost::NetHost(std::string name, std::string ip, std::string netns)
    : name_(std::move(name)), ip_(std::move(ip)), netns_(std::move(netns)) {}

NetHost::~NetHost() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status NetHost::Enter() {
  const std::string path = "/run/netns/" + netns_;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  std::promise<absl::Status> entered;
  std::future<absl::Status> result = entered.get_future();
  thread_ = std::thread([this, fd, &entered] {
    // Only this thread changes namespace; the rest of the test process stays where it was.
    const bool ok = setns(fd, CLONE_NEWNET) == 0;
    entered.set_value(
        ok ? absl::OkStatus()
           : absl::InternalError(absl::StrCat("setns into ", netns_, ": ", std::strerror(errno))));
    close(fd);
    if (ok) Loop();
  });
  absl::Status status = result.get();
  if (!status.ok()) thread_.join();
  return status;
}

void NetHost::Loop() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](NetHost* h)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(h->mu_) { return h->stopping_ || !h->tasks_.empty(); },
          this));
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

absl::Status NetHost::SetLinkUp(bool up) {
  return RunCommand({"ip", "-n", netns_, "link", "set", "eth0", up ? "up" : "down"}).status();
}

absl::Status NetHost::Run(const std::function<absl::Status()>& fn) {
  std::promise<absl::Status> done;
  std::future<absl::Status> result = done.get_future();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::FailedPreconditionError("the host is gone");
    tasks_.push_back([&fn, &done] { done.set_value(fn()); });
  }
  return result.get();
}

absl::StatusOr<std::unique_ptr<process::Subprocess>> NetHost::Start(
    const std::vector<std::string>& argv, const process::SubprocessOptions& options,
    const std::vector<std::string>& hidden) {
  std::vector<std::string> full;
  if (!hidden.empty()) {
    // A mount namespace of its own (private propagation: the mounts stay in it), an empty
    // tmpfs over each hidden folder, then exec: the pid is the program's.
    full = {"unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            "n=$1; shift; while [ \"$n\" -gt 0 ]; do "
            "mount -t tmpfs -o size=1m swarm-hidden \"$1\" || exit 125; shift; n=$((n-1)); "
            "done; exec \"$@\"",
            "sh",
            absl::StrCat(hidden.size())};
    full.insert(full.end(), hidden.begin(), hidden.end());
  }
  full.insert(full.end(), argv.begin(), argv.end());
  std::unique_ptr<process::Subprocess> child;
  // Forked from the host's thread, the child starts in the host's network namespace (and, by
  // PR_SET_PDEATHSIG, dies when that thread ends with the lab).
  SWARM_RETURN_IF_ERROR(Run([&]() -> absl::Status {
    SWARM_ASSIGN_OR_RETURN(child, process::Subprocess::Start(full, options));
    return absl::OkStatus();
  }));
  return child;
}

absl::StatusOr<std::unique_ptr<NetLab>> NetLab::Create() {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "the hosts of this test are network namespaces, which need root (CI runs as root)");
  }
  if (access(SystemTool("ip").c_str(), X_OK) != 0 || access(SystemTool("tc").c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError("iproute2 (ip, tc) is not installed");
  }
  RemoveAbandonedLabs();
  static std::atomic<int> next_lab{0};  // several labs in one process get distinct names
  std::unique_ptr<NetLab> lab(
      new NetLab(absl::StrCat(kNamePrefix, getpid(), "-", next_lab++, "-")));
  lab->switch_netns_ = lab->prefix_ + "switch";
  if (absl::StatusOr<std::string> made = RunCommand({"ip", "netns", "add", lab->switch_netns_});
      !made.ok()) {
    lab->switch_netns_.clear();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot make network namespaces here: ", made.status().message()));
  }
  SWARM_RETURN_IF_ERROR(
      RunCommand({"ip", "-n", lab->switch_netns_, "link", "add", "br0", "type", "bridge"})
          .status());
  SWARM_RETURN_IF_ERROR(
      RunCommand({"ip", "-n", lab->switch_netns_, "link", "set", "br0", "up"}).status());
  return lab;
}

NetLab::~NetLab() {
  // Host threads first: their ending sends SIGTERM to the processes they started.
  std::vector<std::string> names;
  for (auto& host : hosts_) names.push_back(host->netns());
  hosts_.clear();
  for (const std::string& netns : names) RemoveNetns(netns);
  if (!switch_netns_.empty()) RemoveNetns(switch_netns_);
}

absl::StatusOr<NetHost*> NetLab::AddHost(const std::string& name, NetHostOptions options) {
  const size_t index = hosts_.size();
  if (index >= 250) return absl::ResourceExhaustedError("a lab holds at most 250 hosts");
  const std::string netns = prefix_ + name;
  const std::string ip = absl::StrCat("10.77.0.", index + 2);
  const std::string port = absl::StrCat("h", index);  // the host's link on the bridge
  SWARM_RETURN_IF_ERROR(RunCommand({"ip", "netns", "add", netns}).status());
  auto host = std::unique_ptr<NetHost>(new NetHost(name, ip, netns));
  hosts_.push_back(std::move(host));  // from here on the destructor removes it
  const std::vector<std::vector<std::string>> setup = {
      {"ip", "-n", switch_netns_, "link", "add", port, "type", "veth", "peer", "name", "eth0",
       "netns", netns},
      {"ip", "-n", switch_netns_, "link", "set", port, "master", "br0", "up"},
      {"ip", "-n", netns, "addr", "add", ip + "/24", "dev", "eth0"},
      {"ip", "-n", netns, "link", "set", "eth0", "up"},
      {"ip", "-n", netns, "link", "set", "lo", "up"},
  };
  for (const auto& argv : setup) SWARM_RETURN_IF_ERROR(RunCommand(argv).status());
  if (options.rate_bits_per_s > 0) {
    // Egress of eth0 is the host's upload; egress of its bridge port is its download.
    const std::string rate = absl::StrCat(options.rate_bits_per_s, "bit");
    for (const auto& [ns, dev] : {std::pair{netns, std::string("eth0")}, {switch_netns_, port}}) {
      SWARM_RETURN_IF_ERROR(RunCommand({"tc", "-n", ns, "qdisc", "add", "dev", dev, "root",
                                        "handle", "1:", "htb", "default", "1"})
                                .status());
      SWARM_RETURN_IF_ERROR(RunCommand({"tc", "-n", ns, "class", "add", "dev", dev, "parent", "1:",
                                        "classid", "1:1", "htb", "rate", rate, "quantum", "60000"})
                                .status());
    }
  }
  NetHost* added = hosts_.back().get();
  SWARM_RETURN_IF_ERROR(added->Enter());
  return added;
}

}  // namespace swarm::testing
