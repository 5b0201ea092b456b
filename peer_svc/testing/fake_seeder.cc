#include "peer_svc/testing/fake_seeder.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "bt/bencode.h"
#include "bt/wire.h"
#include "net/socket_address.h"

namespace swarm::peer_svc::testing {
namespace {

bool SendAll(int fd, std::string* out) {
  size_t pos = 0;
  while (pos < out->size()) {
    const ssize_t n = send(fd, out->data() + pos, out->size() - pos, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    pos += static_cast<size_t>(n);
  }
  out->clear();
  return true;
}

struct Request {
  uint32_t index, begin, length;
};

}  // namespace

FakeSeeder::FakeSeeder(const TestTorrent& torrent, const Options& options)
    : torrent_(torrent), options_(options) {}

FakeSeeder::~FakeSeeder() { Stop(); }

absl::Status FakeSeeder::Start() {
  SWARM_ASSIGN_OR_RETURN(const net::SocketAddress addr, net::ParseSocketAddress(options_.ip, 0));
  listen_fd_ = socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError("socket");
  if (bind(listen_fd_, addr.get(), addr.size) != 0 || listen(listen_fd_, 16) != 0) {
    return absl::InternalError(absl::StrCat("bind/listen: ", strerror(errno)));
  }
  SWARM_ASSIGN_OR_RETURN(port_, net::BoundPort(listen_fd_));
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void FakeSeeder::Stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  std::vector<std::thread> threads;
  std::vector<int> fds;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
    fds.swap(fds_);
  }
  for (std::thread& t : threads) t.join();
  for (int fd : fds) close(fd);
}

FakeSeeder::Stats FakeSeeder::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool FakeSeeder::WaitFor(const std::function<bool(const Stats&)>& done,
                         absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto cond = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done(stats_); };
  return mu_.AwaitWithTimeout(absl::Condition(&cond), timeout);
}

void FakeSeeder::AcceptLoop() {
  while (!stopping_.load()) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;  // shut down
    }
    absl::MutexLock lock(&mu_);
    if (stopping_.load()) {
      close(fd);
      return;
    }
    ++stats_.connections;
    fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeSeeder::Serve(int fd) {
  ServeConnection(fd);
  // The descriptor is closed in Stop, after this thread is joined, so it cannot be reused
  // under Stop's shutdown; shutdown here is what the client sees as the hang-up.
  shutdown(fd, SHUT_RDWR);
}

bool FakeSeeder::ServeConnection(int fd) {
  const bt::Metainfo& m = torrent_.metainfo;
  const bt::PieceLayout layout = m.layout();
  bt::MessageParser::Limits limits;
  limits.num_pieces = layout.num_pieces();
  bt::MessageParser parser(limits, bt::MessageParser::StreamStart::kHandshake);
  bt::Bitfield have(layout.num_pieces());
  have.SetAll();
  for (uint32_t p : options_.missing_pieces) have.Clear(p);

  std::string out;
  std::deque<Request> queue;
  bool fast = false;
  bool choked = true;
  uint64_t served = 0;
  std::string buf(64 * 1024, '\0');
  while (true) {
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) return false;
    parser.Feed(std::string_view(buf.data(), static_cast<size_t>(n)));
    while (true) {
      absl::StatusOr<std::optional<bt::Message>> next = parser.Next();
      if (!next.ok()) return false;
      if (!next->has_value()) break;
      const bt::Message& msg = **next;
      switch (msg.type) {
        case bt::MessageType::kHandshake: {
          fast = options_.fast && msg.handshake.fast_extension();
          {
            absl::MutexLock lock(&mu_);
            stats_.peer_ids.emplace_back(
                reinterpret_cast<const char*>(msg.handshake.peer_id.data()), 20);
            stats_.client_offered_fast = msg.handshake.fast_extension();
          }
          bt::Handshake h;
          h.info_hash = m.info_hash;
          h.peer_id.fill('S');
          h.set_fast_extension(options_.fast);
          h.set_extension_protocol(options_.reqq > 0);
          bt::AppendHandshake(&out, h);
          // Answered first, so a client can see (and must refuse) the wrong info-hash.
          if (msg.handshake.info_hash != m.info_hash) {
            SendAll(fd, &out);
            return false;
          }
          if (fast && options_.have_all && options_.missing_pieces.empty()) {
            bt::AppendHaveAll(&out);
          } else {
            bt::AppendBitfield(&out, have);
          }
          for (uint32_t i = 0; i < options_.duplicate_haves; ++i) bt::AppendHave(&out, 0);
          if (options_.reqq > 0 && msg.handshake.extension_protocol()) {
            bt::BValue::Dict d;
            d["m"] = bt::BValue::Dict();
            d["reqq"] = static_cast<int64_t>(options_.reqq);
            bt::AppendExtended(&out, 0, bt::Encode(bt::BValue(std::move(d))));
          }
          break;
        }
        case bt::MessageType::kInterested:
          if (choked) {
            bt::AppendUnchoke(&out);
            choked = false;
            const bt::PieceLayout layout = torrent_.metainfo.layout();
            const uint32_t last = layout.num_pieces() - 1;
            const std::string junk(std::min<uint32_t>(16384, layout.piece_size(last)), 'j');
            for (uint32_t i = 0; i < options_.push_unrequested_blocks; ++i) {
              bt::AppendPiece(&out, last, 0, junk);
            }
          }
          break;
        case bt::MessageType::kRequest: {
          absl::MutexLock lock(&mu_);
          ++stats_.requests;
          if (choked) {
            if (fast) bt::AppendReject(&out, msg.index, msg.begin, msg.length);
          } else {
            queue.push_back(Request{msg.index, msg.begin, msg.length});
          }
          break;
        }
        case bt::MessageType::kCancel: {
          absl::MutexLock lock(&mu_);
          ++stats_.cancels;
          queue.erase(std::remove_if(queue.begin(), queue.end(),
                                     [&](const Request& r) {
                                       return r.index == msg.index && r.begin == msg.begin;
                                     }),
                      queue.end());
          break;
        }
        default:
          break;
      }
    }
    {
      absl::MutexLock lock(&mu_);
      stats_.max_queued_requests = std::max<uint64_t>(stats_.max_queued_requests, queue.size());
    }
    if (!options_.serve ||
        (options_.stall_after_blocks != 0 && served >= options_.stall_after_blocks)) {
      queue.clear();
    }
    while (!queue.empty()) {
      const Request r = queue.front();
      queue.pop_front();
      if (!layout.IsValidRange(r.index, r.begin, r.length)) return false;
      bool reject = !have.Get(r.index);
      if (!reject && options_.reject_piece && *options_.reject_piece == r.index) {
        absl::MutexLock lock(&mu_);
        if (rejected_ < options_.reject_times) {
          ++rejected_;
          reject = true;
        }
      }
      if (reject) {
        if (fast) bt::AppendReject(&out, r.index, r.begin, r.length);
        continue;
      }
      std::string block = torrent_.content.substr(layout.piece_offset(r.index) + r.begin, r.length);
      if (options_.corrupt_piece && *options_.corrupt_piece == r.index && r.begin == 0) {
        absl::MutexLock lock(&mu_);
        if (corrupted_ < options_.corrupt_times) {
          ++corrupted_;
          block[0] = static_cast<char>(block[0] ^ 0x5a);
        }
      }
      bt::AppendPiece(&out, r.index, r.begin, block);
      ++served;
      if (options_.stall_after_blocks != 0 && served >= options_.stall_after_blocks) {
        queue.clear();
      }
      {
        absl::MutexLock lock(&mu_);
        ++stats_.blocks_served;
      }
      if (options_.disconnect_after_blocks != 0 && served == options_.disconnect_after_blocks) {
        SendAll(fd, &out);
        return false;
      }
      if (options_.choke_after_blocks != 0 && served == options_.choke_after_blocks) {
        bt::AppendChoke(&out);
        for (const Request& q : queue) {
          if (fast) bt::AppendReject(&out, q.index, q.begin, q.length);
        }
        queue.clear();
        bt::AppendUnchoke(&out);
      }
    }
    if (!SendAll(fd, &out)) return false;
  }
}

}  // namespace swarm::peer_svc::testing
