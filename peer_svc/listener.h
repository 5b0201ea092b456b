// The worker's listening socket: swarm peers connect here (to download from us, or to trade
// while we both download). One thread accepts, reads each newcomer's 68-byte handshake with a
// timeout (many at once, so a slow or silent peer holds up no one) and hands the socket with
// the handshake to a handler, which adopts it (a connection of the job with that info-hash)
// or refuses it (the listener closes it: BEP 3 says to drop a handshake for a torrent we do
// not serve, without answering). Bytes that are not a BitTorrent handshake are refused as
// soon as they show it.
//
//   Listener::Options o;
//   o.ip = "127.0.0.2";                       // port 0: the system picks one
//   SWARM_ASSIGN_OR_RETURN(std::unique_ptr<Listener> l, Listener::Start(o,
//       [&](int fd, const bt::Handshake& h, const bt::Endpoint& from) {
//         return AdoptIfWeServe(h.info_hash, fd, h, from);   // true: fd is ours now
//       }));
//   Register(l->ip(), l->port());
//   ...
//   l->Stop();
#ifndef SWARM_PEER_SVC_LISTENER_H_
#define SWARM_PEER_SVC_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bt/endpoint.h"
#include "bt/wire.h"

namespace swarm::peer_svc {

class Listener {
 public:
  struct Options {
    // Numeric IPv4 or IPv6 address to bind (0.0.0.0 or :: for every interface).
    std::string ip = "127.0.0.1";
    // 0: an ephemeral port (see port()).
    uint16_t port = 0;
    // From accept to the whole handshake.
    absl::Duration handshake_timeout = absl::Seconds(10);
    // Handshakes being read at once; more connections wait in the kernel's backlog.
    size_t max_pending = 64;
    // Of those, from one IP address; more from it are closed at once.
    size_t max_pending_per_ip = 8;
  };

  // Decides on a peer's handshake. Returning true takes the socket (non-blocking, nothing
  // read past the handshake, nothing sent yet): the handler closes it from then on. False:
  // the listener closes it. Runs on the listener's thread, so it must not block for long.
  using Handler =
      std::function<bool(int fd, const bt::Handshake& handshake, const bt::Endpoint& remote)>;

  // Binds and listens, then accepts on a thread of its own until Stop.
  static absl::StatusOr<std::unique_ptr<Listener>> Start(const Options& options, Handler handler);
  // Stops.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The address bound, in canonical form.
  const std::string& ip() const { return address_.ToString(); }
  // Bound to every interface (0.0.0.0 or ::): not an address peers elsewhere can reach.
  bool any_address() const { return address_.IsUnspecified(); }
  // The port bound (the system's choice when Options::port was 0).
  uint16_t port() const { return port_; }
  // Connections closed without reaching the handler (bad or late handshakes), and refused
  // by it.
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  // Stops accepting, closes the handshakes in progress and joins the thread. Idempotent.
  void Stop();

 private:
  Listener(const Options& options, Handler handler);
  void Run();

  const Options options_;
  const Handler handler_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  bt::IpAddress address_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_LISTENER_H_
