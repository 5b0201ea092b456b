// A hostile BitTorrent peer for the fault tests: our own code, at its own loopback address
// (127.0.0.x, so that banning its address bans nothing honest), registered with the test's
// tracker as a seeder. Every worker that dials it gets a handshake and then one chosen
// misbehaviour. It can also hog a worker's slots by dialling it many times over.
//
//   HostilePeerOptions options;  // torrent, content_dir, ip ("127.0.0.9"), misbehaviour
//   SWARM_ASSIGN_OR_RETURN(auto peer, HostilePeer::Start(options));
//   SWARM_RETURN_IF_ERROR(peer->Announce(tracker_ip, tracker_port));
#ifndef SWARM_TESTS_E2E_HOSTILE_PEER_H_
#define SWARM_TESTS_E2E_HOSTILE_PEER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "bt/metainfo.h"

namespace swarm::testing {

enum class Misbehaviour {
  kCorruptPieces,        // serves every piece, but with one byte flipped in each
  kGarbageLengthPrefix,  // a length prefix of almost 4 GiB after its bitfield
  kLongBitfield,         // a bitfield one byte longer than the torrent's
  kSpareBitsSet,         // a bitfield of the right length with the bits past the end set
  kOutOfRangeHave,       // `have` for a piece the torrent does not have
  kUnrequestedBlocks,    // pushes real blocks nobody asked for, without end
  kTrickle,              // answers requests at a few bytes a second
};

struct HostilePeerOptions {
  std::string torrent;      // path of the .torrent
  std::string content_dir;  // folder holding the content, as <content_dir>/<name>
  std::string ip;           // loopback address of its own, e.g. "127.0.0.9"
  Misbehaviour misbehaviour = Misbehaviour::kCorruptPieces;
};

class HostilePeer {
 public:
  static absl::StatusOr<std::unique_ptr<HostilePeer>> Start(const HostilePeerOptions& options);
  ~HostilePeer();  // closes every connection and joins every thread

  // Tells the tracker (an HTTP one at tracker_ip:tracker_port) that this peer seeds the
  // torrent, from this peer's own address so that the tracker lists it there.
  absl::Status Announce(const std::string& tracker_ip, int tracker_port);

  // Dials ip:port `count` times from this peer's address; each connection that the other side
  // answers with its handshake is kept open, announcing no pieces (have-none). Returns how
  // many are still open a moment after their handshakes.
  absl::StatusOr<int> Hog(const std::string& ip, int port, int count);

  const std::string& ip() const { return options_.ip; }
  int port() const { return port_; }
  // Connections that reached the misbehaviour (their handshake was for this torrent).
  int served() const { return served_.load(); }

 private:
  explicit HostilePeer(const HostilePeerOptions& options) : options_(options) {}
  void AcceptLoop();
  void Serve(int fd);
  // Answers the requests read from `fd` until it closes, corrupting or trickling as told.
  void AnswerRequests(int fd);
  void PushUnrequestedBlocks(int fd);
  // Writes all of `bytes`, `chunk` bytes at a time every `pause`; false once the peer is gone
  // or the peer is stopping.
  bool Send(int fd, std::string_view bytes, size_t chunk = 0);
  std::string Block(uint32_t piece, uint32_t begin, uint32_t length) const;
  // 20 bytes, made of its address.
  std::string PeerId() const;
  std::string OurHandshake(bool fast) const;
  void Track(int fd);

  HostilePeerOptions options_;
  bt::Metainfo metainfo_;
  std::string content_;  // the torrent's whole content, in order
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> served_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::testing

#endif  // SWARM_TESTS_E2E_HOSTILE_PEER_H_
