#include "peer_svc/testing/fake_peer.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "bt/piece_layout.h"
#include "net/socket_address.h"

namespace swarm::peer_svc::testing {
namespace {

absl::Status Errno(const char* what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

bt::MessageParser::Limits LimitsFor(uint32_t num_pieces) {
  bt::MessageParser::Limits limits;
  limits.num_pieces = num_pieces;
  // A reject echoes our request, even one over 128 KiB that a test sent on purpose.
  limits.max_request_length = UINT32_MAX;
  return limits;
}

}  // namespace

FakePeer::FakePeer(uint32_t num_pieces)
    : parser_(LimitsFor(num_pieces), bt::MessageParser::StreamStart::kHandshake) {
  // Each its own, as real clients' are: a worker bans peer ids.
  static std::atomic<uint32_t> next{0};
  const std::string id = absl::StrFormat("-FK0001-%012u", next++);
  std::memcpy(peer_id_.data(), id.data(), 20);
}

FakePeer::~FakePeer() {
  if (fd_ >= 0) close(fd_);
  if (listen_fd_ >= 0) close(listen_fd_);
}

absl::StatusOr<std::unique_ptr<FakePeer>> FakePeer::Connect(const std::string& ip, uint16_t port,
                                                            uint32_t num_pieces,
                                                            const std::string& bind_ip) {
  std::unique_ptr<FakePeer> p(new FakePeer(num_pieces));
  absl::StatusOr<net::SocketAddress> addr = net::ParseSocketAddress(ip, port);
  if (!addr.ok()) return addr.status();
  p->fd_ = socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p->fd_ < 0) return Errno("socket");
  if (!bind_ip.empty()) {
    absl::StatusOr<net::SocketAddress> local = net::ParseSocketAddress(bind_ip, 0);
    if (!local.ok()) return local.status();
    if (bind(p->fd_, local->get(), local->size) != 0) return Errno("bind");
  }
  if (connect(p->fd_, addr->get(), addr->size) != 0) {
    return Errno("connect");
  }
  const int one = 1;
  setsockopt(p->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  p->ip_ = ip;
  p->port_ = port;
  return p;
}

absl::StatusOr<std::unique_ptr<FakePeer>> FakePeer::Listen(const std::string& ip,
                                                           uint32_t num_pieces) {
  std::unique_ptr<FakePeer> p(new FakePeer(num_pieces));
  absl::StatusOr<net::SocketAddress> addr = net::ParseSocketAddress(ip, 0);
  if (!addr.ok()) return addr.status();
  p->listen_fd_ = socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p->listen_fd_ < 0) return Errno("socket");
  if (bind(p->listen_fd_, addr->get(), addr->size) != 0 || listen(p->listen_fd_, 4) != 0) {
    return Errno("bind/listen");
  }
  SWARM_ASSIGN_OR_RETURN(p->port_, net::BoundPort(p->listen_fd_));
  p->ip_ = ip;
  return p;
}

absl::Status FakePeer::Accept(absl::Duration timeout) {
  pollfd pfd{listen_fd_, POLLIN, 0};
  if (poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) {
    return absl::DeadlineExceededError("nobody connected");
  }
  fd_ = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd_ < 0) return Errno("accept");
  return absl::OkStatus();
}

absl::Status FakePeer::SendHandshake(const bt::Sha1Digest& info_hash, bool fast, bool extensions) {
  bt::Handshake h;
  h.info_hash = info_hash;
  h.peer_id = peer_id_;
  h.set_fast_extension(fast);
  h.set_extension_protocol(extensions);
  return Send(bt::EncodeHandshake(h));
}

absl::Status FakePeer::Send(const std::string& bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const ssize_t n = send(fd_, bytes.data() + pos, bytes.size() - pos, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("send");
    }
    pos += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status FakePeer::Fill(absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("no message in time");
    pollfd pfd{fd_, POLLIN, 0};
    const int n = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno != EINTR) return Errno("poll");
    if (n <= 0) continue;
    char buf[64 * 1024];
    const ssize_t r = recv(fd_, buf, sizeof(buf), 0);
    if (r == 0) return absl::UnavailableError("the worker closed the connection");
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Errno("recv");
    }
    parser_.Feed(std::string_view(buf, static_cast<size_t>(r)));
    return absl::OkStatus();
  }
}

absl::StatusOr<bt::Message> FakePeer::Next(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::optional<bt::Message>> m = parser_.Next();
    if (!m.ok()) return m.status();
    if (m->has_value()) {
      bt::Message msg = **m;
      // Copied out: the parser's buffer moves on the next Feed.
      last_data_.assign(msg.data.data(), msg.data.size());
      msg.data = last_data_;
      return msg;
    }
    absl::Status filled = Fill(deadline);
    if (!filled.ok()) return filled;
  }
}

absl::StatusOr<bt::Message> FakePeer::NextOfType(bt::MessageType type, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<bt::Message> m = Next(deadline - absl::Now());
    if (!m.ok() || m->type == type) return m;
  }
}

absl::StatusOr<bt::Message> FakePeer::NextPayload(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<bt::Message> m = Next(deadline - absl::Now());
    if (!m.ok()) return m;
    switch (m->type) {
      case bt::MessageType::kKeepAlive:
      case bt::MessageType::kInterested:
      case bt::MessageType::kNotInterested:
      case bt::MessageType::kExtended:
        continue;
      default:
        return m;
    }
  }
}

bool FakePeer::WaitForClose(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<bt::Message> m = Next(deadline - absl::Now());
    if (m.ok()) continue;
    // A reset (recv fails) counts as closed too.
    return absl::IsUnavailable(m.status());
  }
}

absl::Status FakePeer::RequestPieces(const std::vector<uint32_t>& pieces, uint64_t total_length,
                                     uint32_t piece_length) {
  absl::StatusOr<bt::PieceLayout> layout = bt::PieceLayout::Create(total_length, piece_length);
  if (!layout.ok()) return layout.status();
  std::string out;
  for (uint32_t piece : pieces) {
    for (uint32_t b = 0; b < layout->num_blocks(piece); ++b) {
      bt::AppendRequest(&out, piece, b * bt::kBlockSize, layout->block_length(piece, b));
    }
  }
  return Send(out);
}

}  // namespace swarm::peer_svc::testing
