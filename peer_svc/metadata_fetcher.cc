#include "peer_svc/metadata_fetcher.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "bt/extension_handshake.h"
#include "bt/wire.h"
#include "net/tcp_connect.h"

namespace swarm::peer_svc {
namespace {

// The id under which peers send us ut_metadata messages (ours to choose, BEP 10).
constexpr uint8_t kOurUtMetadataId = 1;
// Longest message taken from a peer: a bitfield of 8M pieces, or a metadata piece with its
// dictionary, fits; anything longer is not a message a peer should send.
constexpr uint32_t kMaxMessageLength = (1u << 20) + 13;
constexpr uint8_t kExtendedId = 20;

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(Absl(what), ": ", strerror(errno)));
}

std::string OurExtensionHandshake(uint16_t listen_port) {
  std::string d = absl::StrCat("d1:md11:ut_metadatai", kOurUtMetadataId, "ee");
  if (listen_port != 0) absl::StrAppend(&d, "1:pi", listen_port, "e");
  absl::StrAppend(&d, "1:v9:swarm/0.1e");
  return d;
}

}  // namespace

// One peer's socket, read and written with deadlines. The socket is shut down from outside
// (Stop, or the dictionary complete) to end a wait early.
class MetadataFetcher::Peer {
 public:
  explicit Peer(bt::Endpoint endpoint) : endpoint_(std::move(endpoint)) {}
  ~Peer() {
    if (fd_ >= 0) close(fd_);
  }
  const bt::Endpoint& endpoint() const { return endpoint_; }
  int fd() const { return fd_; }

  // Starts connecting; Connect waits for it (the socket exists meanwhile, to be shut down).
  absl::Status Open(const std::string& bind_ip) {
    SWARM_ASSIGN_OR_RETURN(fd_, net::StartTcpConnect(endpoint_, bind_ip));
    return absl::OkStatus();
  }

  absl::Status Connect(absl::Duration timeout) {
    SWARM_RETURN_IF_ERROR(Wait(POLLOUT, absl::Now() + timeout, "connect"));
    return net::TcpConnectResult(fd_);
  }

  absl::Status Send(std::string_view bytes, absl::Time deadline) {
    while (!bytes.empty()) {
      const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        SWARM_RETURN_IF_ERROR(Wait(POLLOUT, deadline, "sending"));
      } else {
        return Errno("send");
      }
    }
    return absl::OkStatus();
  }

  // The peer's 68-byte handshake.
  absl::StatusOr<bt::Handshake> ReadHandshake(absl::Time deadline) {
    SWARM_RETURN_IF_ERROR(Fill(bt::kHandshakeSize, deadline));
    absl::StatusOr<bt::Handshake> h =
        bt::ParseHandshake(std::string_view(buf_).substr(0, bt::kHandshakeSize));
    buf_.erase(0, bt::kHandshakeSize);
    return h;
  }

  // The next message that is not a keep-alive: its id and payload.
  absl::StatusOr<std::pair<uint8_t, std::string>> Next(absl::Time deadline) {
    for (;;) {
      SWARM_RETURN_IF_ERROR(Fill(4, deadline));
      uint32_t length;
      std::memcpy(&length, buf_.data(), 4);
      length = ntohl(length);
      if (length > kMaxMessageLength) {
        return absl::InvalidArgumentError(
            absl::StrCat("a message of ", length, " bytes: longer than any peer sends"));
      }
      SWARM_RETURN_IF_ERROR(Fill(4 + size_t{length}, deadline));
      if (length == 0) {
        buf_.erase(0, 4);
        continue;
      }
      std::pair<uint8_t, std::string> m(static_cast<uint8_t>(buf_[4]), buf_.substr(5, length - 1));
      buf_.erase(0, 4 + size_t{length});
      return m;
    }
  }

 private:
  absl::Status Wait(short events, absl::Time deadline, std::string_view what) {
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError(absl::StrCat(Absl(what), ": the peer took too long"));
      }
      pollfd p = {fd_, events, 0};
      const int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (n < 0 && errno != EINTR) return Errno("poll");
      if (n > 0) return absl::OkStatus();
    }
  }

  // At least `n` bytes in buf_.
  absl::Status Fill(size_t n, absl::Time deadline) {
    char chunk[64 * 1024];
    while (buf_.size() < n) {
      const ssize_t got = recv(fd_, chunk, sizeof(chunk), 0);
      if (got > 0) {
        buf_.append(chunk, static_cast<size_t>(got));
      } else if (got == 0) {
        return absl::UnavailableError("the peer closed the connection");
      } else if (errno == EAGAIN || errno == EINTR) {
        SWARM_RETURN_IF_ERROR(Wait(POLLIN, deadline, "reading"));
      } else {
        return Errno("recv");
      }
    }
    return absl::OkStatus();
  }

  const bt::Endpoint endpoint_;
  int fd_ = -1;
  std::string buf_;
};

MetadataFetcher::MetadataFetcher(Options options, Done done, PeerEnded ended)
    : options_(std::move(options)),
      done_callback_(std::move(done)),
      ended_callback_(std::move(ended)) {}

MetadataFetcher::~MetadataFetcher() { Stop(); }

bool MetadataFetcher::AddPeer(const bt::Endpoint& peer) {
  absl::MutexLock lock(&mu_);
  if (done_ || stopping_ || banned_ips_.contains(peer.ip().ToString())) return false;
  if (!seen_.insert(peer.ToString()).second) return false;
  queue_.push_back(peer);
  if (idle_threads_ == 0 && static_cast<int>(threads_.size()) < options_.max_peers) {
    threads_.emplace_back([this] { RunThread(); });
  }
  return true;
}

bool MetadataFetcher::done() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

size_t MetadataFetcher::peers() const {
  absl::MutexLock lock(&mu_);
  return queue_.size() + connected_.size();
}

void MetadataFetcher::Stop() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    queue_.clear();
    for (const auto& [serial, peer] : connected_) {
      if (peer.second >= 0) shutdown(peer.second, SHUT_RDWR);
    }
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void MetadataFetcher::RunThread() {
  for (;;) {
    bt::Endpoint endpoint;
    uint64_t serial;
    {
      absl::MutexLock lock(&mu_);
      ++idle_threads_;
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || done_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      --idle_threads_;
      if (stopping_ || done_) return;
      endpoint = queue_.front();
      queue_.pop_front();
      if (banned_ips_.contains(endpoint.ip().ToString())) {
        seen_.erase(endpoint.ToString());
        continue;
      }
      serial = next_serial_++;
      connected_[serial] = {endpoint, -1};  // its socket once there is one
    }
    Peer peer(endpoint);
    const absl::Status status = FetchFrom(peer, serial);
    bool banned;
    {
      absl::MutexLock lock(&mu_);
      connected_.erase(serial);
      seen_.erase(endpoint.ToString());  // the coordinator may hand it out again
      banned = absl::IsInvalidArgument(status);
      if (banned) banned_ips_.insert(endpoint.ip().ToString());
    }
    ended_callback_(endpoint, status, banned);
  }
}

absl::Status MetadataFetcher::FetchFrom(Peer& peer, uint64_t serial) {
  SWARM_RETURN_IF_ERROR(peer.Open(options_.bind_ip));
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || done_) return absl::CancelledError("stopped");
    connected_[serial].second = peer.fd();
  }
  SWARM_RETURN_IF_ERROR(peer.Connect(options_.connect_timeout));
  bt::Handshake ours;
  ours.info_hash = options_.info_hash;
  ours.peer_id = options_.peer_id;
  ours.set_extension_protocol(true);
  const absl::Time handshake_deadline = absl::Now() + options_.handshake_timeout;
  SWARM_RETURN_IF_ERROR(peer.Send(bt::EncodeHandshake(ours), handshake_deadline));

  SWARM_ASSIGN_OR_RETURN(bt::Handshake theirs, peer.ReadHandshake(handshake_deadline));
  if (theirs.info_hash != options_.info_hash) {
    return absl::FailedPreconditionError("the peer answered with another info-hash");
  }
  if (theirs.peer_id == options_.peer_id) {
    return absl::FailedPreconditionError("connected to ourselves (same peer id)");
  }
  if (!theirs.extension_protocol()) {
    return absl::FailedPreconditionError(
        "the peer does not speak the extension protocol: it cannot send the metadata");
  }
  // Only now: aria2 drops a peer whose extension handshake comes along with its handshake.
  std::string out;
  bt::AppendExtended(&out, 0, OurExtensionHandshake(options_.listen_port));
  SWARM_RETURN_IF_ERROR(peer.Send(out, handshake_deadline));
  uint8_t their_id = 0;
  uint32_t size = 0;
  while (their_id == 0) {
    SWARM_ASSIGN_OR_RETURN(auto m, peer.Next(handshake_deadline));
    if (m.first != kExtendedId || m.second.empty() || m.second[0] != 0) continue;
    absl::StatusOr<bt::ExtensionHandshake> h =
        bt::ParseExtensionHandshake(std::string_view(m.second).substr(1));
    if (!h.ok()) return absl::InvalidArgumentError(h.status().message());
    const auto it = h->extensions.find("ut_metadata");
    if (it == h->extensions.end() || !h->metadata_size) {
      return absl::FailedPreconditionError("the peer does not offer the metadata");
    }
    their_id = it->second;
    size = *h->metadata_size;
  }
  // A copy of its own: pieces from several peers are never mixed, so a dictionary that is
  // not the torrent's is that peer's doing alone.
  absl::StatusOr<bt::MetadataAssembler> assembler =
      bt::MetadataAssembler::Create(options_.info_hash, size);
  if (!assembler.ok()) return absl::InvalidArgumentError(assembler.status().message());
  // A few requests in flight: one round trip per piece would make a large dictionary slow.
  constexpr uint32_t kWindow = 4;
  uint32_t next = 0, answered = 0;
  absl::Time deadline = absl::Now() + options_.piece_timeout;
  out.clear();
  for (; next < assembler->pieces() && next < kWindow; ++next) {
    bt::AppendExtended(&out, their_id, bt::EncodeMetadataRequest(next));
  }
  SWARM_RETURN_IF_ERROR(peer.Send(out, deadline));
  while (answered < assembler->pieces()) {
    {
      absl::MutexLock lock(&mu_);
      if (done_ || stopping_) return absl::CancelledError("the metadata came from another peer");
    }
    SWARM_ASSIGN_OR_RETURN(auto m, peer.Next(deadline));
    if (m.first != kExtendedId || m.second.empty() ||
        static_cast<uint8_t>(m.second[0]) != kOurUtMetadataId) {
      continue;
    }
    absl::StatusOr<bt::MetadataMessage> reply =
        bt::ParseMetadataMessage(std::string_view(m.second).substr(1));
    if (absl::IsUnimplemented(reply.status())) continue;  // BEP 9: ignored
    if (!reply.ok()) return reply.status();
    out.clear();
    switch (reply->type) {
      case bt::MetadataMessageType::kRequest:
        // It asks us: we have nothing to give yet.
        bt::AppendExtended(&out, their_id, bt::EncodeMetadataReject(reply->piece));
        break;
      case bt::MetadataMessageType::kReject:
        return absl::UnavailableError(
            absl::StrCat("the peer rejected metadata piece ", reply->piece));
      case bt::MetadataMessageType::kData:
        if (reply->total_size != size || reply->piece >= next || assembler->Has(reply->piece)) {
          return absl::InvalidArgumentError(
              absl::StrCat("sent metadata piece ", reply->piece, " of ", reply->total_size,
                           " bytes, not one asked for (of ", size, ")"));
        }
        SWARM_RETURN_IF_ERROR(assembler->Add(reply->piece, reply->data, serial));
        ++answered;
        deadline = absl::Now() + options_.piece_timeout;
        if (next < assembler->pieces()) {
          bt::AppendExtended(&out, their_id, bt::EncodeMetadataRequest(next++));
        }
        break;
    }
    if (!out.empty()) SWARM_RETURN_IF_ERROR(peer.Send(out, deadline));
  }
  absl::StatusOr<std::string> info = assembler->Finish();
  if (!info.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sent a dictionary of ", size, " bytes that is not the torrent's"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (done_ || stopping_) return absl::OkStatus();
    done_ = true;
    // The other connections have nothing more to do.
    for (const auto& [s, other] : connected_) {
      if (s != serial && other.second >= 0) shutdown(other.second, SHUT_RDWR);
    }
  }
  done_callback_(*std::move(info));
  return absl::OkStatus();
}

}  // namespace swarm::peer_svc
