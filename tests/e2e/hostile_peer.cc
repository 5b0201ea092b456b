#include "tests/e2e/hostile_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "base/testing/files.h"
#include "bt/wire.h"

namespace swarm::testing {
namespace {

sockaddr_in Address(const std::string& ip, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  return addr;
}

// A TCP socket bound to `ip` (any port), so that whoever it reaches sees that address.
absl::StatusOr<int> SocketFrom(const std::string& ip) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  const sockaddr_in local = Address(ip, 0);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("bind ", ip, ": ", std::strerror(errno)));
  }
  return fd;
}

void SetReceiveTimeout(int fd, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

bool ReadExactly(int fd, size_t n, std::string* out) {
  out->resize(n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = read(fd, out->data() + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

// Reads and discards until the other side closes (or the peer shuts the socket down).
void DrainUntilClosed(int fd) {
  char buf[16384];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
}

// True when `fd` is still open at the other end: whatever has arrived is read away first.
bool StillOpen(int fd) {
  char buf[16384];
  while (true) {
    const ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) continue;
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

// A bitfield message with whatever payload, checked or not.
void AppendRawBitfield(std::string* out, const std::string& bits) {
  const uint32_t length = htonl(static_cast<uint32_t>(1 + bits.size()));
  out->append(reinterpret_cast<const char*>(&length), 4);
  *out += '\x05';
  *out += bits;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HostilePeer>> HostilePeer::Start(const HostilePeerOptions& options) {
  std::unique_ptr<HostilePeer> peer(new HostilePeer(options));
  SWARM_ASSIGN_OR_RETURN(peer->metainfo_, bt::ParseMetainfo(ReadWholeFile(options.torrent)));
  for (const bt::FileEntry& file : peer->metainfo_.files) {
    if (file.pad) {
      peer->content_.append(file.length, '\0');
      continue;
    }
    peer->content_ += ReadWholeFile(options.content_dir + "/" + file.RelativePath());
  }
  if (peer->content_.size() != peer->metainfo_.total_length) {
    return absl::FailedPreconditionError("the content does not match the torrent");
  }
  SWARM_ASSIGN_OR_RETURN(peer->listen_fd_, SocketFrom(options.ip));
  if (listen(peer->listen_fd_, 128) != 0) return absl::InternalError(std::strerror(errno));
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  getsockname(peer->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  peer->port_ = ntohs(bound.sin_port);
  peer->acceptor_ = std::thread([p = peer.get()] { p->AcceptLoop(); });
  return peer;
}

HostilePeer::~HostilePeer() {
  stopping_ = true;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  std::vector<std::thread> threads;
  std::vector<int> fds;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(threads_);
    fds.swap(fds_);
  }
  // Shut down first and close only after the threads are gone, so no thread ever uses a
  // descriptor number that has been handed out again.
  for (int fd : fds) shutdown(fd, SHUT_RDWR);
  for (std::thread& t : threads) t.join();
  for (int fd : fds) close(fd);
}

void HostilePeer::Track(int fd) {
  absl::MutexLock lock(&mu_);
  fds_.push_back(fd);
}

void HostilePeer::AcceptLoop() {
  while (!stopping_) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    absl::MutexLock lock(&mu_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

std::string HostilePeer::PeerId() const {
  // One per address, as two real clients would have: a worker bans peer ids too.
  std::string digits;
  for (char c : options_.ip) {
    if (c != '.') digits += c;
  }
  digits.resize(12, 'x');
  return "-HS0001-" + digits;
}

std::string HostilePeer::OurHandshake(bool fast) const {
  bt::Handshake ours;
  std::memcpy(ours.info_hash.data(), metainfo_.info_hash.data(), 20);
  const std::string id = PeerId();
  std::memcpy(ours.peer_id.data(), id.data(), 20);
  ours.set_fast_extension(fast);
  return bt::EncodeHandshake(ours);
}

std::string HostilePeer::Block(uint32_t piece, uint32_t begin, uint32_t length) const {
  const uint64_t at = uint64_t{piece} * metainfo_.piece_length + begin;
  if (at >= content_.size()) return std::string();
  return content_.substr(at, length);
}

bool HostilePeer::Send(int fd, std::string_view bytes, size_t chunk) {
  while (!bytes.empty()) {
    if (stopping_) return false;
    const size_t n = chunk == 0 ? bytes.size() : std::min(chunk, bytes.size());
    const ssize_t w = send(fd, bytes.data(), n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(w));
    if (chunk != 0) absl::SleepFor(absl::Milliseconds(500));
  }
  return true;
}

void HostilePeer::Serve(int fd) {
  SetReceiveTimeout(fd, absl::Seconds(10));
  std::string theirs;
  if (!ReadExactly(fd, bt::kHandshakeSize, &theirs)) return;
  absl::StatusOr<bt::Handshake> handshake = bt::ParseHandshake(theirs);
  if (!handshake.ok() ||
      std::memcmp(handshake->info_hash.data(), metainfo_.info_hash.data(), 20) != 0) {
    return;
  }
  SetReceiveTimeout(fd, absl::InfiniteDuration());
  ++served_;
  const uint32_t n = metainfo_.num_pieces();
  bt::Bitfield all(n);
  all.SetAll();
  std::string out = OurHandshake(/*fast=*/false);
  switch (options_.misbehaviour) {
    case Misbehaviour::kGarbageLengthPrefix:
      bt::AppendBitfield(&out, all);
      out += std::string("\xff\xff\xff\xf0", 4) + std::string(1024, 'x');
      break;
    case Misbehaviour::kLongBitfield:
      AppendRawBitfield(&out, all.ToBytes() + "\xff");
      break;
    case Misbehaviour::kSpareBitsSet: {
      std::string bits = all.ToBytes();
      bits.back() = '\xff';
      AppendRawBitfield(&out, bits);
      break;
    }
    case Misbehaviour::kOutOfRangeHave:
      bt::AppendHave(&out, n + 3);
      break;
    case Misbehaviour::kUnrequestedBlocks:
    case Misbehaviour::kCorruptPieces:
    case Misbehaviour::kTrickle:
      bt::AppendBitfield(&out, all);
      bt::AppendUnchoke(&out);
      break;
  }
  if (!Send(fd, out)) return;
  if (options_.misbehaviour == Misbehaviour::kUnrequestedBlocks) {
    PushUnrequestedBlocks(fd);
  } else if (options_.misbehaviour == Misbehaviour::kCorruptPieces ||
             options_.misbehaviour == Misbehaviour::kTrickle) {
    AnswerRequests(fd);
  }
  DrainUntilClosed(fd);
}

void HostilePeer::AnswerRequests(int fd) {
  bt::MessageParser::Limits limits;
  limits.num_pieces = metainfo_.num_pieces();
  bt::MessageParser parser(limits);
  char buf[16384];
  while (true) {
    const ssize_t r = read(fd, buf, sizeof(buf));
    if (r <= 0) return;
    parser.Feed(std::string_view(buf, static_cast<size_t>(r)));
    while (true) {
      absl::StatusOr<std::optional<bt::Message>> m = parser.Next();
      if (!m.ok()) return;
      if (!m->has_value()) break;
      if ((*m)->type != bt::MessageType::kRequest) continue;
      std::string block = Block((*m)->index, (*m)->begin, (*m)->length);
      if (options_.misbehaviour == Misbehaviour::kCorruptPieces && (*m)->begin == 0 &&
          !block.empty()) {
        block[0] = static_cast<char>(block[0] ^ 0xff);
      }
      std::string piece;
      bt::AppendPiece(&piece, (*m)->index, (*m)->begin, block);
      // Trickling: two bytes every half second.
      if (!Send(fd, piece, options_.misbehaviour == Misbehaviour::kTrickle ? 2 : 0)) return;
    }
  }
}

void HostilePeer::PushUnrequestedBlocks(int fd) {
  // Whole blocks of real data, from the last piece back, whether asked for or not: a client
  // cannot tell them from late answers to requests it cancelled, only count them.
  const bt::PieceLayout layout = metainfo_.layout();
  for (uint64_t sent = 0; sent < (uint64_t{256} << 20);) {
    for (uint32_t piece = layout.num_pieces(); piece-- > 0;) {
      for (uint32_t block = 0; block < layout.num_blocks(piece); ++block) {
        const uint32_t begin = block * bt::kBlockSize;
        const uint32_t length = layout.block_length(piece, block);
        std::string out;
        bt::AppendPiece(&out, piece, begin, Block(piece, begin, length));
        if (!Send(fd, out)) return;
        sent += length;
      }
    }
  }
}

absl::Status HostilePeer::Announce(const std::string& tracker_ip, int tracker_port) {
  std::string info_hash;
  for (uint8_t c : metainfo_.info_hash)
    absl::StrAppend(&info_hash, "%", absl::Hex(c, absl::kZeroPad2));
  const std::string request = absl::StrCat(
      "GET /announce?info_hash=", info_hash, "&peer_id=", PeerId(), "&port=", port_,
      "&uploaded=0&downloaded=0&left=0&event=started&compact=1 HTTP/1.0\r\nHost: ", tracker_ip,
      "\r\n\r\n");
  SWARM_ASSIGN_OR_RETURN(const int fd, SocketFrom(options_.ip));
  const sockaddr_in tracker = Address(tracker_ip, tracker_port);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&tracker), sizeof(tracker)) != 0 ||
      !Send(fd, request)) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("announce: ", std::strerror(errno)));
  }
  std::string response;
  char buf[4096];
  ssize_t r;
  while ((r = read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(r));
  close(fd);
  if (response.find("8:interval") == std::string::npos) {
    return absl::UnavailableError(absl::StrCat("announce refused: ", response));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> HostilePeer::Hog(const std::string& ip, int port, int count) {
  std::vector<int> kept;
  for (int i = 0; i < count; ++i) {
    SWARM_ASSIGN_OR_RETURN(const int fd, SocketFrom(options_.ip));
    const sockaddr_in target = Address(ip, port);
    std::string hello = OurHandshake(/*fast=*/true);
    bt::AppendHaveNone(&hello);
    std::string theirs;
    SetReceiveTimeout(fd, absl::Seconds(2));
    if (connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof(target)) != 0 ||
        !Send(fd, hello) || !ReadExactly(fd, bt::kHandshakeSize, &theirs)) {
      close(fd);
      continue;
    }
    Track(fd);  // closed with the peer
    kept.push_back(fd);
  }
  absl::SleepFor(absl::Milliseconds(500));  // let the worker drop the ones it will not keep
  int open = 0;
  for (int fd : kept) open += StillOpen(fd) ? 1 : 0;
  return open;
}

}  // namespace swarm::testing
