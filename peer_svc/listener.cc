#include "peer_svc/listener.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "net/socket_address.h"

namespace swarm::peer_svc {
namespace {

// After accept fails for want of descriptors (EMFILE/ENFILE), wait this long before trying
// again rather than spin on a listen socket that stays readable.
constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(100);

struct Pending {
  int fd;
  bt::Endpoint remote;
  absl::Time deadline;
  size_t got = 0;
  char buf[bt::kHandshakeSize];
};

// Whether the first `n` bytes can still start a BitTorrent handshake: <19>"BitTorrent protocol".
bool PlausibleStart(const char* buf, size_t n) {
  if (n == 0) return true;
  if (static_cast<uint8_t>(buf[0]) != bt::kProtocolName.size()) return false;
  const size_t k = std::min(n - 1, bt::kProtocolName.size());
  return std::memcmp(buf + 1, bt::kProtocolName.data(), k) == 0;
}

}  // namespace

Listener::Listener(const Options& options, Handler handler)
    : options_(options), handler_(std::move(handler)) {}

absl::StatusOr<std::unique_ptr<Listener>> Listener::Start(const Options& options, Handler handler) {
  std::unique_ptr<Listener> l(new Listener(options, std::move(handler)));
  absl::StatusOr<bt::IpAddress> ip = bt::IpAddress::Parse(options.ip);
  if (!ip.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("listen address: ", ip.status().message()));
  }
  l->address_ = *ip;
  const net::SocketAddress addr = net::ToSocketAddress(*ip, options.port);
  l->listen_fd_ = socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->listen_fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  // A fixed port can be bound again at once after a restart (old connections in TIME_WAIT).
  const int one = 1;
  setsockopt(l->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(l->listen_fd_, addr.get(), addr.size) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", ip->ToString(), " port ",
                                               options.port, ": ", strerror(errno)));
  }
  if (listen(l->listen_fd_, 128) != 0) {
    return absl::InternalError(absl::StrCat("listen: ", strerror(errno)));
  }
  SWARM_ASSIGN_OR_RETURN(l->port_, net::BoundPort(l->listen_fd_));
  l->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (l->wake_fd_ < 0) return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  l->thread_ = std::thread([p = l.get()] { p->Run(); });
  return l;
}

Listener::~Listener() {
  Stop();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Listener::Stop() {
  stop_.store(true);
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
}

void Listener::Run() {
  std::vector<Pending> pending;
  std::vector<pollfd> fds;
  absl::Time accept_paused_until = absl::InfinitePast();
  auto forget = [&](size_t i) {
    if (i + 1 != pending.size()) pending[i] = std::move(pending.back());
    pending.pop_back();
  };
  auto drop = [&](size_t i) {
    // Counted before the close that the other side sees.
    refused_.fetch_add(1, std::memory_order_relaxed);
    close(pending[i].fd);
    forget(i);
  };
  while (!stop_.load()) {
    const absl::Time now = absl::Now();
    // Late handshakes first: they free room for new connections.
    for (size_t i = 0; i < pending.size();) {
      if (now >= pending[i].deadline) {
        drop(i);
      } else {
        ++i;
      }
    }
    const bool accepting = pending.size() < options_.max_pending && now >= accept_paused_until;
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    absl::Time wake_at = accepting ? absl::InfiniteFuture() : accept_paused_until;
    for (const Pending& p : pending) {
      fds.push_back({p.fd, POLLIN, 0});
      wake_at = std::min(wake_at, p.deadline);
    }
    int timeout_ms = -1;
    if (wake_at != absl::InfiniteFuture()) {
      timeout_ms =
          wake_at <= now ? 0 : static_cast<int>(absl::ToInt64Milliseconds(wake_at - now)) + 1;
    }
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // cannot happen with valid descriptors; nothing sensible left to do
    }
    if (stop_.load()) break;

    // Handshake bytes; fds[2 + i] belongs to pending[i] as it was at poll time, so walk
    // backwards: drop() moves the last entry into the freed place.
    for (size_t i = pending.size(); i-- > 0;) {
      if ((fds[2 + i].revents & (POLLIN | POLLERR | POLLHUP)) == 0) continue;
      Pending& p = pending[i];
      const ssize_t r = recv(p.fd, p.buf + p.got, sizeof(p.buf) - p.got, 0);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (r <= 0) {
        drop(i);
        continue;
      }
      p.got += static_cast<size_t>(r);
      if (!PlausibleStart(p.buf, p.got)) {
        drop(i);
        continue;
      }
      if (p.got < sizeof(p.buf)) continue;
      absl::StatusOr<bt::Handshake> h = bt::ParseHandshake(std::string_view(p.buf, sizeof(p.buf)));
      if (!h.ok() || !handler_(p.fd, *h, p.remote)) {
        drop(i);
        continue;
      }
      forget(i);  // adopted: the handler owns the descriptor now
    }

    if (accepting && (fds[1].revents & POLLIN)) {
      while (pending.size() < options_.max_pending) {
        sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            accept_paused_until = absl::Now() + kAcceptBackoff;
          }
          break;  // EAGAIN: all taken; ECONNABORTED and the like: the next poll retries
        }
        absl::StatusOr<bt::Endpoint> remote = net::FromSocketAddress(addr);
        if (!remote.ok()) {  // not an IP peer (cannot happen on a TCP/IP socket)
          close(fd);
          continue;
        }
        // One address may not hold every handshake slot (silent connections would keep
        // everyone else waiting in the backlog for the handshake timeout).
        const size_t from_ip = std::count_if(pending.begin(), pending.end(), [&](const Pending& p) {
          return p.remote.ip() == remote->ip();
        });
        if (from_ip >= options_.max_pending_per_ip) {
          close(fd);
          continue;
        }
        Pending& p = pending.emplace_back();
        p.fd = fd;
        p.remote = *std::move(remote);
        p.deadline = absl::Now() + options_.handshake_timeout;
      }
    }
  }
  for (const Pending& p : pending) close(p.fd);
}

}  // namespace swarm::peer_svc
