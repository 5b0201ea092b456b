#include "tracker_svc/udp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "bt/endpoint.h"
#include "bt/tracker/udp_packet.h"
#include "net/socket_address.h"

namespace swarm::tracker_svc {
namespace {

using bt::tracker::IpFamily;

// How often a wait wakes up to ask `cancelled`.
constexpr absl::Duration kCancelPollInterval = absl::Milliseconds(200);

// A UDP tracker's address, resolved.
struct Resolved {
  net::SocketAddress socket;
  std::string key;  // "ip:port", for the connection-id cache and messages
  std::string ip;
};

absl::StatusOr<Resolved> MakeResolved(const sockaddr* addr, uint16_t port) {
  SWARM_ASSIGN_OR_RETURN(bt::Endpoint endpoint, net::FromSocketAddress(addr, port));
  Resolved r;
  r.socket = net::ToSocketAddress(endpoint);
  if (addr->sa_family == AF_INET6 && r.socket.family() == AF_INET6) {
    // A link-local address (fe80::/10) means nothing without its interface, which the
    // resolver gives as the scope id and an endpoint does not hold.
    reinterpret_cast<sockaddr_in6*>(&r.socket.storage)->sin6_scope_id =
        reinterpret_cast<const sockaddr_in6*>(addr)->sin6_scope_id;
  }
  r.key = endpoint.ToString();
  r.ip = endpoint.ip().ToString();
  return r;
}

// getaddrinfo has no timeout, so a name is resolved on a helper thread that the caller stops
// waiting for at the deadline (the thread then finishes on its own).
absl::StatusOr<Resolved> Resolve(const std::string& host, uint16_t port, absl::Time deadline) {
  if (absl::StatusOr<bt::IpAddress> ip = bt::IpAddress::Parse(host); ip.ok()) {
    const net::SocketAddress numeric = net::ToSocketAddress(*ip, port);
    return MakeResolved(numeric.get(), port);
  }

  struct Lookup {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::StatusOr<Resolved> result ABSL_GUARDED_BY(mu) = absl::UnknownError("unset");
  };
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host, port] {
    addrinfo hints;
    std::memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    absl::StatusOr<Resolved> result;
    if (rc != 0 || res == nullptr) {
      result =
          absl::UnavailableError(absl::StrCat("cannot resolve \"", host, "\": ", gai_strerror(rc)));
    } else {
      const addrinfo* pick = res;  // prefer IPv4: most UDP trackers still are
      for (const addrinfo* a = res; a != nullptr; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
          pick = a;
          break;
        }
      }
      if (pick->ai_family == AF_INET || pick->ai_family == AF_INET6) {
        result = MakeResolved(pick->ai_addr, port);
      } else {
        result = absl::UnavailableError(absl::StrCat("no IP address for \"", host, "\""));
      }
    }
    if (res != nullptr) freeaddrinfo(res);
    absl::MutexLock lock(&lookup->mu);
    lookup->result = std::move(result);
    lookup->done = true;
  }).detach();

  absl::MutexLock lock(&lookup->mu);
  if (!lookup->mu.AwaitWithDeadline(absl::Condition(&lookup->done), deadline)) {
    return absl::DeadlineExceededError(absl::StrCat("resolving \"", host, "\" took too long"));
  }
  return lookup->result;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

uint32_t NewTransactionId() {
  thread_local absl::BitGen gen;
  return absl::Uniform<uint32_t>(gen);
}

}  // namespace

// One call's conversation with one tracker: a connected socket, the call's deadline and the
// BEP 15 backoff exponent n, which grows over the whole call (connects and requests alike).
class UdpTrackerClient::Exchange {
 public:
  Exchange(UdpTrackerClient* client, absl::Time deadline, const std::function<bool()>& cancelled)
      : client_(client), deadline_(deadline), cancelled_(cancelled) {}

  absl::Status Open(const bt::tracker::TrackerUrl& url) {
    if (url.scheme != bt::tracker::TrackerScheme::kUdp) {
      return absl::InvalidArgumentError("not a udp:// tracker URL");
    }
    SWARM_ASSIGN_OR_RETURN(endpoint_, Resolve(url.host, url.port, deadline_));
    int fd = socket(endpoint_.socket.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
    fd_ = std::make_unique<Fd>(fd);
    // A connected UDP socket only receives from the tracker, and reports ICMP port-unreachable.
    if (connect(fd, endpoint_.socket.get(), endpoint_.socket.size) != 0) {
      return absl::UnavailableError(
          absl::StrCat("connect to ", endpoint_.key, ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }

  const std::string& ip() const { return endpoint_.ip; }
  IpFamily family() const {
    return endpoint_.socket.family() == AF_INET ? IpFamily::kV4 : IpFamily::kV6;
  }

  // Sends `build(connection_id, transaction_id)` and returns the decoded answer, reconnecting
  // when the connection id may be stale and retransmitting on the BEP 15 schedule.
  template <typename T>
  absl::StatusOr<T> Call(
      const std::function<absl::StatusOr<std::string>(uint64_t, uint32_t)>& build,
      const std::function<absl::StatusOr<T>(std::string_view, uint32_t)>& decode) {
    for (;;) {
      uint64_t connection_id = 0;
      const bool from_cache = client_->LookUpConnectionId(endpoint_.key, &connection_id);
      if (!from_cache) {
        SWARM_ASSIGN_OR_RETURN(connection_id, Connect());
      }
      const absl::Time obtained = client_->options_.clock();
      const uint32_t tid = NewTransactionId();
      SWARM_ASSIGN_OR_RETURN(std::string request, build(connection_id, tid));
      for (;;) {
        SWARM_ASSIGN_OR_RETURN(std::optional<std::string> packet, RoundTrip(request, tid));
        if (packet) {
          absl::StatusOr<T> result = decode(*packet, tid);
          if (absl::IsFailedPrecondition(result.status())) {
            client_->ForgetConnectionId(endpoint_.key);  // perhaps it refused our id
          }
          return Classify(std::move(result));
        }
        // No answer in time. A cached id may have died with a tracker restart, and any id
        // dies after its lifetime: get a new one before trying again.
        if (from_cache ||
            client_->options_.clock() - obtained >= client_->options_.connection_id_lifetime) {
          client_->ForgetConnectionId(endpoint_.key);
          break;
        }
      }
    }
  }

 private:
  absl::StatusOr<uint64_t> Connect() {
    const uint32_t tid = NewTransactionId();
    const std::string request = bt::tracker::EncodeUdpConnectRequest(tid);
    for (;;) {
      SWARM_ASSIGN_OR_RETURN(std::optional<std::string> packet, RoundTrip(request, tid));
      if (!packet) continue;
      absl::StatusOr<uint64_t> id = bt::tracker::DecodeUdpConnectResponse(*packet, tid);
      if (id.ok()) client_->StoreConnectionId(endpoint_.key, *id);
      return Classify(std::move(id));
    }
  }

  // Decoding errors of an answer that is ours are the tracker's fault: UNAVAILABLE.
  template <typename T>
  absl::StatusOr<T> Classify(absl::StatusOr<T> result) {
    if (absl::IsInvalidArgument(result.status())) {
      return absl::UnavailableError(result.status().message());
    }
    return result;
  }

  // Sends `request` once and waits until 15 * 2^n seconds have passed (then nullopt, and n
  // grows) or a datagram with transaction id `tid` arrives. Fails at the deadline.
  absl::StatusOr<std::optional<std::string>> RoundTrip(const std::string& request, uint32_t tid) {
    const absl::Time now = absl::Now();
    if (now >= deadline_) return Timeout();
    const absl::Time attempt_end =
        std::min(deadline_, now + client_->options_.base_timeout * (1 << backoff_));
    backoff_ = std::min(backoff_ + 1, client_->options_.max_backoff_exponent);
    ++sends_;
    if (send(fd_->get(), request.data(), request.size(), MSG_NOSIGNAL) < 0 &&
        errno != ECONNREFUSED) {  // a refusal of an earlier datagram shows here; recv says it
      return absl::UnavailableError(
          absl::StrCat("send to ", endpoint_.key, ": ", std::strerror(errno)));
    }
    std::string buf(bt::tracker::kUdpMaxPacketSize + 1, '\0');
    for (;;) {
      if (cancelled_ && cancelled_()) return absl::CancelledError("UDP tracker call cancelled");
      const absl::Time now = absl::Now();
      if (now >= attempt_end) {
        if (attempt_end >= deadline_) return Timeout();
        return std::nullopt;
      }
      const absl::Duration wait = std::min(attempt_end - now, kCancelPollInterval);
      pollfd p{fd_->get(), POLLIN, 0};
      const int timeout_ms =
          static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
      const int ready = poll(&p, 1, timeout_ms);
      if (ready < 0 && errno != EINTR) {
        return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
      }
      if (ready <= 0) continue;
      const ssize_t n = recv(fd_->get(), buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == ECONNREFUSED) {
          return absl::UnavailableError(
              absl::StrCat("UDP tracker ", endpoint_.key, " is not listening (port unreachable)"));
        }
        return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
      }
      std::string_view packet(buf.data(), static_cast<size_t>(n));
      absl::StatusOr<bt::tracker::UdpResponseHeader> header =
          bt::tracker::PeekUdpResponseHeader(packet);
      // Too short to be anything, or an answer to another (earlier) request: not ours.
      if (!header.ok() || header->transaction_id != tid ||
          static_cast<size_t>(n) > bt::tracker::kUdpMaxPacketSize) {
        continue;
      }
      return std::string(packet);
    }
  }

  absl::Status Timeout() const {
    return absl::DeadlineExceededError(absl::StrCat("no answer from UDP tracker ", endpoint_.key,
                                                    " (", sends_, " datagrams sent)"));
  }

  UdpTrackerClient* const client_;
  const absl::Time deadline_;
  const std::function<bool()>& cancelled_;
  Resolved endpoint_;
  std::unique_ptr<Fd> fd_;
  int backoff_ = 0;
  int sends_ = 0;
};

UdpTrackerClient::UdpTrackerClient(Options options) : options_(std::move(options)) {}

absl::StatusOr<bt::tracker::AnnounceReply> UdpTrackerClient::Announce(
    const bt::tracker::TrackerUrl& url, const bt::tracker::AnnounceParams& params,
    absl::Time deadline, const std::function<bool()>& cancelled, std::string* tracker_ip) {
  SWARM_RETURN_IF_ERROR(bt::tracker::ValidateAnnounceParams(params));
  Exchange exchange(this, deadline, cancelled);
  SWARM_RETURN_IF_ERROR(exchange.Open(url));
  if (tracker_ip != nullptr) *tracker_ip = exchange.ip();
  const IpFamily family = exchange.family();
  return exchange.Call<bt::tracker::AnnounceReply>(
      [&](uint64_t connection_id, uint32_t tid) {
        return bt::tracker::EncodeUdpAnnounceRequest(connection_id, tid, params);
      },
      [family](std::string_view packet, uint32_t tid) {
        return bt::tracker::DecodeUdpAnnounceResponse(packet, tid, family);
      });
}

absl::StatusOr<std::vector<bt::tracker::ScrapeCounts>> UdpTrackerClient::Scrape(
    const bt::tracker::TrackerUrl& url, const std::vector<std::string>& info_hashes,
    absl::Time deadline, const std::function<bool()>& cancelled) {
  // Validate before any traffic.
  SWARM_RETURN_IF_ERROR(bt::tracker::ValidateScrapeHashes(info_hashes));
  Exchange exchange(this, deadline, cancelled);
  SWARM_RETURN_IF_ERROR(exchange.Open(url));
  return exchange.Call<std::vector<bt::tracker::ScrapeCounts>>(
      [&](uint64_t connection_id, uint32_t tid) {
        return bt::tracker::EncodeUdpScrapeRequest(connection_id, tid, info_hashes);
      },
      [&](std::string_view packet, uint32_t tid) {
        return bt::tracker::DecodeUdpScrapeResponse(packet, tid, info_hashes);
      });
}

bool UdpTrackerClient::LookUpConnectionId(const std::string& endpoint, uint64_t* id) {
  absl::MutexLock lock(&mu_);
  auto it = connection_ids_.find(endpoint);
  if (it == connection_ids_.end()) return false;
  if (options_.clock() - it->second.obtained >= options_.connection_id_lifetime) {
    connection_ids_.erase(it);
    return false;
  }
  *id = it->second.id;
  return true;
}

void UdpTrackerClient::StoreConnectionId(const std::string& endpoint, uint64_t id) {
  const absl::Time now = options_.clock();
  absl::MutexLock lock(&mu_);
  if (connection_ids_.size() >= options_.max_cached_connection_ids) {
    absl::erase_if(connection_ids_, [&](const auto& entry) {
      return now - entry.second.obtained >= options_.connection_id_lifetime;
    });
    // Still full of live ids: start over rather than grow without bound.
    if (connection_ids_.size() >= options_.max_cached_connection_ids) connection_ids_.clear();
  }
  connection_ids_[endpoint] = CachedId{id, now};
}

void UdpTrackerClient::ForgetConnectionId(const std::string& endpoint) {
  absl::MutexLock lock(&mu_);
  connection_ids_.erase(endpoint);
}

}  // namespace swarm::tracker_svc
