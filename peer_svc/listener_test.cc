#include "peer_svc/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bt/wire.h"
#include "gtest/gtest.h"

namespace swarm::peer_svc {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

// A connection to 127.0.0.1:port, from `from` (another loopback address) when given.
int ConnectTo(uint16_t port, const char* from = nullptr) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (from != nullptr) {
    sockaddr_in source{};
    source.sin_family = AF_INET;
    inet_pton(AF_INET, from, &source.sin_addr);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof(source)), 0);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

void SendAll(int fd, const std::string& bytes) {
  ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

// True when the listener closed `fd` (a read sees the end of the stream) within kWait.
bool ClosedByPeer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kWait))) != 1) return false;
  char c;
  return recv(fd, &c, 1, 0) <= 0;
}

bt::Handshake MakeHandshake(uint8_t fill) {
  bt::Handshake h;
  h.info_hash.fill(fill);
  h.peer_id.fill('x');
  return h;
}

// Records what the listener hands over; adopts only info-hashes filled with 0xAA.
class Recorder {
 public:
  Listener::Handler handler() {
    return [this](int fd, const bt::Handshake& h, const bt::Endpoint& from) {
      absl::MutexLock lock(&mu_);
      handshakes_.push_back(h);
      from_.push_back(from);
      if (h.info_hash[0] != 0xAA) return false;
      fds_.push_back(fd);
      return true;
    };
  }
  bool WaitForCalls(size_t n) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return handshakes_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), kWait);
  }
  ~Recorder() {
    for (int fd : fds_) close(fd);
  }

  absl::Mutex mu_;
  std::vector<bt::Handshake> handshakes_ ABSL_GUARDED_BY(mu_);
  std::vector<bt::Endpoint> from_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
};

TEST(ListenerTest, HandsOverTheHandshakeAndTheSocket) {
  Recorder rec;
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Start(Listener::Options(), rec.handler());
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_NE((*l)->port(), 0);
  EXPECT_EQ((*l)->ip(), "127.0.0.1");
  const int fd = ConnectTo((*l)->port());
  // In two parts: the listener puts the handshake together. A message after it stays unread.
  const std::string hs = bt::EncodeHandshake(MakeHandshake(0xAA));
  SendAll(fd, hs.substr(0, 30));
  SendAll(fd, hs.substr(30) + std::string("\0\0\0\1\2", 5));  // + interested
  ASSERT_TRUE(rec.WaitForCalls(1));
  absl::MutexLock lock(&rec.mu_);
  EXPECT_EQ(rec.handshakes_[0], MakeHandshake(0xAA));
  EXPECT_EQ(rec.from_[0].ip().ToString(), "127.0.0.1");
  EXPECT_NE(rec.from_[0].port(), 0);
  ASSERT_EQ(rec.fds_.size(), 1u);
  char buf[16];
  const ssize_t n = recv(rec.fds_[0], buf, sizeof(buf), MSG_DONTWAIT);
  ASSERT_EQ(n, 5) << "the bytes after the handshake are left for the connection";
  close(fd);
}

TEST(ListenerTest, RefusedHandshakeIsClosed) {
  Recorder rec;
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Start(Listener::Options(), rec.handler());
  ASSERT_TRUE(l.ok()) << l.status();
  const int fd = ConnectTo((*l)->port());
  SendAll(fd, bt::EncodeHandshake(MakeHandshake(0xBB)));
  EXPECT_TRUE(ClosedByPeer(fd));
  EXPECT_EQ((*l)->refused(), 1u);
  close(fd);
}

TEST(ListenerTest, OtherProtocolIsClosedAtItsFirstBytes) {
  Recorder rec;
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Start(Listener::Options(), rec.handler());
  ASSERT_TRUE(l.ok()) << l.status();
  const int fd = ConnectTo((*l)->port());
  SendAll(fd, "GET / HTTP/1.1\r\n");
  EXPECT_TRUE(ClosedByPeer(fd));
  absl::MutexLock lock(&rec.mu_);
  EXPECT_TRUE(rec.handshakes_.empty());
  close(fd);
}

TEST(ListenerTest, SilentPeerTimesOutWithoutHoldingUpOthers) {
  Recorder rec;
  Listener::Options o;
  o.handshake_timeout = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Start(o, rec.handler());
  ASSERT_TRUE(l.ok()) << l.status();
  const int silent = ConnectTo((*l)->port());
  SendAll(silent, bt::EncodeHandshake(MakeHandshake(0xAA)).substr(0, 40));
  const int good = ConnectTo((*l)->port());
  SendAll(good, bt::EncodeHandshake(MakeHandshake(0xAA)));
  ASSERT_TRUE(rec.WaitForCalls(1));
  EXPECT_TRUE(ClosedByPeer(silent));
  close(silent);
  close(good);
}

TEST(ListenerTest, OneAddressCannotHoldEveryHandshakeSlot) {
  Recorder rec;
  Listener::Options o;
  o.max_pending = 4;
  o.max_pending_per_ip = 2;
  o.handshake_timeout = absl::Minutes(5);
  absl::StatusOr<std::unique_ptr<Listener>> l = Listener::Start(o, rec.handler());
  ASSERT_TRUE(l.ok()) << l.status();
  const int silent1 = ConnectTo((*l)->port(), "127.0.0.2");
  const int silent2 = ConnectTo((*l)->port(), "127.0.0.2");
  const int third = ConnectTo((*l)->port(), "127.0.0.2");
  EXPECT_TRUE(ClosedByPeer(third)) << "a third pending handshake from one address";
  // Someone else still gets in at once.
  const int good = ConnectTo((*l)->port(), "127.0.0.3");
  SendAll(good, bt::EncodeHandshake(MakeHandshake(0xAA)));
  EXPECT_TRUE(rec.WaitForCalls(1));
  for (int fd : {silent1, silent2, third, good}) close(fd);
}

TEST(ListenerTest, BusyPortIsAnError) {
  Recorder rec;
  absl::StatusOr<std::unique_ptr<Listener>> a = Listener::Start(Listener::Options(), rec.handler());
  ASSERT_TRUE(a.ok()) << a.status();
  Listener::Options o;
  o.port = (*a)->port();
  absl::StatusOr<std::unique_ptr<Listener>> b = Listener::Start(o, rec.handler());
  EXPECT_TRUE(absl::IsUnavailable(b.status())) << b.status();
}

TEST(ListenerTest, BadAddressIsAnError) {
  Recorder rec;
  Listener::Options o;
  o.ip = "localhost";
  EXPECT_TRUE(absl::IsInvalidArgument(Listener::Start(o, rec.handler()).status()));
}

}  // namespace
}  // namespace swarm::peer_svc
