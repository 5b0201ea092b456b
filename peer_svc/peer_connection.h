// One outgoing connection to a swarm peer, on a thread of its own: TCP connect (optionally from
// a given source address), the BitTorrent handshake (info-hash checked, fast extension BEP 6
// and extension protocol BEP 10 offered), the peer's bitfield / have / have-all / have-none,
// interested, unchoke, pipelined block requests (BlockPipeline), SHA-1 of each finished piece,
// keep-alives, and the ways a peer goes wrong: choke mid-piece, rejects, no data (snubbed),
// disconnects, protocol violations, pieces that fail their hash.
//
// The connection holds no job state: it asks its Delegate (the job) which piece to fetch and
// hands back what it learns and fetches. Delegate methods run on the connection's thread,
// never with a lock of the connection held, so the delegate may call CancelPieces/Wake on any
// connection. Nothing is held across socket I/O.
//
//   PeerConnection::Options o;
//   o.key = 1; o.endpoint = {"127.0.0.2", 6881};
//   o.info_hash = m.info_hash; o.peer_id = my_id; o.layout = m.layout();
//   o.piece_hashes = m.piece_hashes;   // must outlive the connection
//   std::unique_ptr<PeerConnection> c = PeerConnection::Start(o, &job);
//   ...
//   c->CancelPieces({7});   // revoked: stop fetching piece 7
//   c->Stop(); c->Join();   // Delegate::OnClosed has run when Join returns
#ifndef SWARM_PEER_SVC_PEER_CONNECTION_H_
#define SWARM_PEER_SVC_PEER_CONNECTION_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bt/bitfield.h"
#include "bt/piece_layout.h"
#include "bt/sha1.h"
#include "bt/wire.h"
#include "peer_svc/block_pipeline.h"
#include "peer_svc/piece_buffer.h"
#include "peer_svc/piece_pool.h"

namespace peer_svc {

// A swarm peer's address as the coordinator gives it.
struct PeerEndpoint {
  std::string ip;  // IPv4 dotted quad or IPv6 text form
  uint16_t port = 0;
  // "1.2.3.4:6881" or "[::1]:6881", for messages.
  std::string ToString() const;
  friend bool operator==(const PeerEndpoint& a, const PeerEndpoint& b) {
    return a.ip == b.ip && a.port == b.port;
  }
};

class PeerConnection {
 public:
  using PeerKey = PiecePool::PeerKey;
  using Progress = PiecePool::Progress;

  class Delegate {
   public:
    virtual ~Delegate() = default;
    // The pieces the peer has: its bitfield, or a full / empty set for have-all / have-none.
    virtual void OnPeerPieces(PeerConnection& conn, const bt::Bitfield& have) = 0;
    virtual void OnPeerHave(PeerConnection& conn, uint32_t piece) = 0;
    // Whether the job would fetch anything from this peer (we are "interested" while so).
    virtual bool WantsFrom(PeerConnection& conn) = 0;
    // A piece for this connection to fetch now, or nullopt when there is none. Asked again
    // after Wake(), a have, or an unchoke.
    virtual std::optional<uint32_t> PickPiece(PeerConnection& conn) = 0;
    // The connection gave `piece` up (choked too long, or the peer `refused` it with rejects);
    // another peer may fetch it.
    virtual void ReleasePiece(PeerConnection& conn, uint32_t piece, bool refused) = 0;
    // Bytes received so far of the pieces in flight, and payload bytes received since the
    // last call. About four times a second while data flows.
    virtual void OnProgress(PeerConnection& conn, absl::Span<const Progress> progress,
                            uint64_t new_bytes) = 0;
    // A finished piece whose SHA-1 matched, handed over with its buffer: the delegate gives
    // the buffer back to Options::buffer_pool once written (or lets it go).
    virtual void OnPieceVerified(PeerConnection& conn, uint32_t piece, PieceBuffer data) = 0;
    // A finished piece whose SHA-1 did not match (the connection drops the peer after
    // Options::max_bad_pieces of them).
    virtual void OnPieceCorrupt(PeerConnection& conn, uint32_t piece) = 0;
    // The last call: the connection is over (or never came up). `banned` when the peer broke
    // the protocol or sent too many bad pieces. Pieces it was fetching are to be released.
    virtual void OnClosed(PeerConnection& conn, const absl::Status& reason, bool banned) = 0;
  };

  struct Options {
    PeerKey key = 0;
    PeerEndpoint endpoint;
    // Source address to connect from (empty: the system's choice). Ignored for a peer of the
    // other address family.
    std::string bind_ip;
    bt::Sha1Digest info_hash{};
    std::array<uint8_t, 20> peer_id{};
    bt::PieceLayout layout = *bt::PieceLayout::Create(1, 1);
    // 20 bytes of SHA-1 per piece (bt::Metainfo::piece_hashes); must outlive the connection.
    std::string_view piece_hashes;
    BlockPipeline::Options pipeline;
    // Where piece buffers come from (shared by a job's connections and its writer); null: the
    // connection's own. Must outlive the connection.
    BufferPool* buffer_pool = nullptr;
    // TCP connect, after which the peer counts as unreachable.
    absl::Duration connect_timeout = absl::Seconds(10);
    // From TCP connected to the peer's handshake.
    absl::Duration handshake_timeout = absl::Seconds(20);
    // Requests in flight and no block for this long: the peer is snubbing us; drop it.
    absl::Duration snub_timeout = absl::Seconds(30);
    // Choked this long with pieces half-fetched: give them back for other peers.
    absl::Duration choke_release_after = absl::Seconds(5);
    // Nothing sent for this long: send a keep-alive (peers drop silent connections at ~2 min).
    absl::Duration keepalive_interval = absl::Seconds(90);
    // Nothing at all received for this long (peers send keep-alives every 2 min): dead.
    absl::Duration receive_timeout = absl::Seconds(240);
    // Pieces failing their hash before the peer is dropped and banned.
    int max_bad_pieces = 3;
    // Socket read size: large reads keep the per-byte cost low at hundreds of MB/s.
    size_t read_size = 256 * 1024;
  };

  // Starts the connection's thread. `delegate` must outlive it (until Join returns).
  static std::unique_ptr<PeerConnection> Start(const Options& options, Delegate* delegate);
  // Stops and joins.
  ~PeerConnection();
  PeerConnection(const PeerConnection&) = delete;
  PeerConnection& operator=(const PeerConnection&) = delete;

  // --- thread-safe ---

  // Stop fetching these pieces (revoked, or verified from another peer): their outstanding
  // requests are cancelled. The delegate is not asked to release them.
  void CancelPieces(absl::Span<const uint32_t> pieces);
  // New work may be available (leases granted, pieces released): ask PickPiece again.
  void Wake();
  // Closes the connection; OnClosed follows (with a CANCELLED status).
  void Stop();
  // Waits for the thread to end.
  void Join();
  // Whether the thread has finished (OnClosed has returned).
  bool done() const { return done_.load(std::memory_order_acquire); }

  PeerKey key() const { return options_.key; }
  const PeerEndpoint& endpoint() const { return options_.endpoint; }
  // The peer has unchoked us (we may request).
  bool unchoked() const { return unchoked_.load(std::memory_order_relaxed); }
  // Leases this connection could use now to keep its request queue full.
  uint32_t desired_pieces() const { return desired_pieces_.load(std::memory_order_relaxed); }
  // The peer id from the peer's handshake (20 bytes; empty before it). Read it on the
  // connection's thread only, as in Delegate calls.
  const std::string& remote_peer_id() const { return remote_peer_id_; }

 private:
  PeerConnection(const Options& options, Delegate* delegate);
  void Run();
  absl::Status Loop();
  absl::Status Connect();
  // Reads what the socket has (a few large reads) and handles every whole message.
  absl::Status ReadAndHandle(absl::Time now);
  absl::Status Handle(const bt::Message& m, absl::Time now);
  absl::Status HandleHandshake(const bt::Handshake& h);
  void HandleExtended(const bt::Message& m);
  absl::Status CompletePiece(uint32_t piece);
  // Interest, new pieces from the delegate, requests.
  void UpdateRequests(absl::Time now);
  absl::Status CheckTimers(absl::Time now);
  void ReleaseAllPieces();
  void ReportProgress(absl::Time now, bool force);
  absl::Status Flush();
  void DrainInbox();
  // A protocol violation: the peer is banned.
  absl::Status Violation(const absl::Status& status);

  const Options options_;
  Delegate* const delegate_;

  // Thread-shared.
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<bool> unchoked_{false};
  std::atomic<uint32_t> desired_pieces_{0};
  int wake_fd_ = -1;
  absl::Mutex inbox_mu_;
  std::vector<uint32_t> cancel_inbox_ ABSL_GUARDED_BY(inbox_mu_);
  bool woken_ ABSL_GUARDED_BY(inbox_mu_) = false;
  std::thread thread_;

  // Connection thread only.
  int fd_ = -1;
  bt::MessageParser parser_;
  BlockPipeline pipeline_;
  std::unique_ptr<char[]> read_buf_;
  std::string out_;  // bytes to send; out_[out_pos_, end) not yet sent
  size_t out_pos_ = 0;
  bool send_closed_ = false;  // the peer reset the connection; read what is left
  bool handshake_done_ = false;
  std::string remote_peer_id_;
  bool fast_ = false;  // both sides offered BEP 6
  bool am_interested_ = false;
  bool peer_unchoked_ = false;  // the peer unchoked us
  bool try_pick_ = true;        // PickPiece may find something (reset by Wake, have, unchoke)
  bool check_interest_ = false;
  bool banned_ = false;
  int bad_pieces_ = 0;
  absl::Time connected_at_;
  absl::Time last_recv_;
  absl::Time last_send_;
  absl::Time choked_since_;
  // Since when we have been waiting for a block with requests in flight.
  absl::Time waiting_since_;
  absl::Time last_progress_;
  absl::Time last_pick_retry_;
  uint64_t unreported_bytes_ = 0;
  bool progress_dirty_ = false;
  std::vector<Progress> progress_buf_;
};

}  // namespace peer_svc

#endif  // SWARM_PEER_SVC_PEER_CONNECTION_H_
