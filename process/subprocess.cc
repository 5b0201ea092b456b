#include "process/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace swarm::process {

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const std::vector<std::string>& argv,
                                                              const SubprocessOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to start");
  int pipe_fds[2] = {-1, -1};
  if (options.capture_stdout && pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  // Everything the child needs is prepared before fork: only async-signal-safe calls after.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [n, v] : options.env) replaced = replaced || n == name;
    if (!replaced) env_storage.emplace_back(entry);
  }
  for (const auto& [name, value] : options.env) env_storage.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    if (options.own_process_group) setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent may block signals in its threads
    const int devnull = open("/dev/null", O_WRONLY);
    if (options.capture_stdout) {
      dup2(pipe_fds[1], STDOUT_FILENO);
    } else if (options.quiet_stdout && devnull >= 0) {
      dup2(devnull, STDOUT_FILENO);
    }
    if (options.stderr_to_stdout) {
      dup2(STDOUT_FILENO, STDERR_FILENO);
    } else if (options.quiet_stderr && devnull >= 0) {
      dup2(devnull, STDERR_FILENO);
    }
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  if (options.capture_stdout) close(pipe_fds[1]);
  return std::unique_ptr<Subprocess>(new Subprocess(pid, pipe_fds[0]));
}

Subprocess::~Subprocess() {
  Stop(absl::Seconds(5));
  // The child is gone, so the drainer sees end-of-file (unless a grandchild kept the pipe,
  // which our services never do).
  if (drainer_.joinable()) drainer_.join();
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

void Subprocess::DrainStdout() {
  if (stdout_fd_ < 0 || drainer_.joinable()) return;
  const int fd = stdout_fd_;
  drainer_ = std::thread([fd] {
    char buf[4096];
    while (true) {
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
    }
  });
}

absl::StatusOr<std::string> Subprocess::ReadLineMatching(const std::string& needle,
                                                         absl::Duration timeout) {
  if (stdout_fd_ < 0) return absl::FailedPreconditionError("stdout is not captured");
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    // Look through complete lines not yet consumed.
    size_t eol;
    while ((eol = output_.find('\n', consumed_)) != std::string::npos) {
      std::string line = output_.substr(consumed_, eol - consumed_);
      consumed_ = eol + 1;
      if (line.find(needle) != std::string::npos) return line;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat("no line with \"", needle, "\" from pid ",
                                                      pid_, " within ",
                                                      absl::FormatDuration(timeout)));
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    const int rc = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buf[4096];
    const ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat("pid ", pid_,
                                                 " exited or closed stdout before "
                                                 "printing \"",
                                                 needle, "\""));
    }
    output_.append(buf, static_cast<size_t>(n));
  }
}

void Subprocess::Signal(int signal) {
  if (!reaped_) kill(pid_, signal);
}

bool Subprocess::running() { return !Wait(absl::ZeroDuration()).has_value(); }

std::optional<int> Subprocess::Wait(absl::Duration timeout) {
  if (reaped_) return status_;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t rc = waitpid(pid_, &status, WNOHANG);
    if (rc == pid_ || (rc < 0 && errno == ECHILD)) {
      reaped_ = true;
      status_ = rc == pid_ ? status : -1;
      return status_;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    // A child's exit has no pollable descriptor without pidfd; a short sleep between
    // checks keeps this simple and it only runs while stopping.
    absl::SleepFor(absl::Milliseconds(10));
  }
}

int Subprocess::Stop(absl::Duration grace) {
  if (reaped_) return status_;
  Signal(SIGTERM);
  if (std::optional<int> s = Wait(grace)) return *s;
  Signal(SIGKILL);
  return Wait(absl::InfiniteDuration()).value_or(-1);
}

}  // namespace swarm::process
