#include "process/opentracker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bt/tracker/udp_packet.h"
#include "process/ports.h"

namespace swarm::process {
namespace {

constexpr int kMaxAttempts = 5;

absl::Status WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out || chmod(path.c_str(), mode) != 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

// Sends one UDP datagram and waits up to 100 ms for the answer with this transaction id; empty
// when none came. Late answers to earlier tries are read and dropped on the way, so a slow
// first answer does not leave every later try reading the one before it.
std::string Exchange(int fd, const std::string& request, uint32_t transaction_id) {
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(100);
  char buf[512];
  for (absl::Time now = absl::Now(); now < deadline; now = absl::Now()) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(deadline - now)) + 1) <= 0) break;
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) continue;
    const std::string reply(buf, static_cast<size_t>(n));
    absl::StatusOr<bt::tracker::UdpResponseHeader> header =
        bt::tracker::PeekUdpResponseHeader(reply);
    if (header.ok() && header->transaction_id == transaction_id) return reply;
  }
  return "";
}

// Waits until opentracker answers a BEP 15 announce for `probe_hash` with a full reply. Its UDP
// port answers before it has read its whitelist — a thread of its own loads that — and until
// then it refuses every info-hash: a bound port is not enough. The probe is a plain announce:
// one with event=stopped is answered without a look at the whitelist. (It leaves a peer in
// the probe's own swarm, which no test uses.) Pauses 20 ms between tries.
absl::Status WaitForWhitelistedAnnounce(const std::string& ip, int port,
                                        const std::string& probe_hash, absl::Time deadline,
                                        process::Subprocess* process) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", ip));
  }
  bt::tracker::AnnounceParams probe;
  probe.info_hash = probe_hash;
  probe.peer_id = std::string(20, 'p');
  probe.port = 1;
  absl::Status result = absl::DeadlineExceededError(
      absl::StrCat("opentracker did not answer a UDP announce on port ", port, " in time"));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    for (uint32_t tid = 1; absl::Now() < deadline; tid += 2) {
      if (!process->running()) {
        result = absl::FailedPreconditionError("opentracker exited");
        break;
      }
      absl::StatusOr<uint64_t> connection_id = bt::tracker::DecodeUdpConnectResponse(
          Exchange(fd, bt::tracker::EncodeUdpConnectRequest(tid), tid), tid);
      if (connection_id.ok()) {
        absl::StatusOr<std::string> announce =
            bt::tracker::EncodeUdpAnnounceRequest(*connection_id, tid + 1, probe);
        if (!announce.ok()) {
          result = announce.status();
          break;
        }
        if (bt::tracker::DecodeUdpAnnounceResponse(Exchange(fd, *announce, tid + 1), tid + 1,
                                                   bt::tracker::IpFamily::kV4)
                .ok()) {
          result = absl::OkStatus();
          break;
        }
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  close(fd);
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Opentracker>> Opentracker::Start(Options options) {
  // One more entry, announced to by Start() to see that the whitelist is loaded.
  const std::string probe_hash = "swarm-whitelist-prob";
  std::string whitelist = absl::StrCat(absl::BytesToHexString(probe_hash), "\n");
  for (const std::string& hash : options.info_hashes) {
    if (hash.size() != 20) {
      return absl::InvalidArgumentError(
          absl::StrCat("info-hash of ", hash.size(), " bytes; want 20 raw bytes"));
    }
    absl::StrAppend(&whitelist, absl::BytesToHexString(hash), "\n");
  }
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.binary, " is not installed (Debian package opentracker)"));
  }

  std::unique_ptr<Opentracker> tracker(new Opentracker());
  tracker->keep_dir_ = options.keep_dir;
  const char* test_tmp = std::getenv("TEST_TMPDIR");
  const std::string parent = !options.parent_dir.empty() ? options.parent_dir
                             : test_tmp != nullptr       ? test_tmp
                                                         : "/tmp";
  std::string tmpl = absl::StrCat(parent, "/opentracker.XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, ": ", std::strerror(errno)));
  }
  // <tmpl>/root is the chroot: it and the whitelist must be readable by nobody. The log stays
  // outside it, opened by us before exec.
  tracker->dir_ = tmpl + "/root";
  tracker->log_path_ = tmpl + "/opentracker.log";
  if (mkdir(tracker->dir_.c_str(), 0755) != 0 || chmod(tracker->dir_.c_str(), 0755) != 0) {
    return absl::InternalError(absl::StrCat("mkdir ", tracker->dir_, ": ", std::strerror(errno)));
  }
  if (absl::Status s = WriteFile(tracker->dir_ + "/whitelist", whitelist, 0644); !s.ok()) {
    return s;
  }

  const absl::Time deadline = absl::Now() + options.start_timeout;
  absl::Status last = absl::UnknownError("not started");
  // Ports given by the caller are not retried: a second try would meet the same taker.
  const int attempts = options.http_port != 0 && options.udp_port != 0 ? 1 : kMaxAttempts;
  for (int attempt = 0; attempt < attempts && absl::Now() < deadline; ++attempt) {
    absl::StatusOr<int> tcp =
        options.http_port != 0 ? options.http_port : PickUnusedPort(SOCK_STREAM, options.ip);
    absl::StatusOr<int> udp =
        options.udp_port != 0 ? options.udp_port : PickUnusedPort(SOCK_DGRAM, options.ip);
    if (!tcp.ok()) return tcp.status();
    if (!udp.ok()) return udp.status();
    // Through sh only to send its output to the log file; `exec` keeps the pid.
    absl::StatusOr<std::unique_ptr<process::Subprocess>> process = process::Subprocess::Start(
        {"/bin/sh", "-c", "log=$1; shift; exec \"$@\" >>\"$log\" 2>&1", "sh", tracker->log_path_,
         options.binary, "-i", options.ip, "-p", std::to_string(*tcp), "-P", std::to_string(*udp),
         "-d", tracker->dir_, "-w", "whitelist"},
        {.capture_stdout = false});
    if (!process.ok()) return process.status();
    process::Subprocess* p = process->get();
    last = WaitForTcpPort(*tcp, deadline, options.ip, [p] { return !p->running(); });
    if (last.ok()) last = WaitForWhitelistedAnnounce(options.ip, *udp, probe_hash, deadline, p);
    if (last.ok()) {
      tracker->ip_ = options.ip;
      tracker->http_port_ = *tcp;
      tracker->udp_port_ = *udp;
      tracker->process_ = *std::move(process);
      return tracker;
    }
    (*process)->Stop(absl::Seconds(2));  // lost a port race, or worse: the log says which
  }
  return absl::UnavailableError(
      absl::StrCat("opentracker did not start: ", last.message(), "; its log:\n", tracker->log()));
}

Opentracker::~Opentracker() {
  if (process_) process_->Stop(absl::Seconds(2));
  if (keep_dir_ || dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(std::filesystem::path(dir_).parent_path(), ignored);
}

std::string Opentracker::http_announce_url() const {
  return absl::StrCat("http://", ip_, ":", http_port_, "/announce");
}

std::string Opentracker::udp_announce_url() const {
  return absl::StrCat("udp://", ip_, ":", udp_port_, "/announce");
}

std::string Opentracker::log() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace swarm::process
