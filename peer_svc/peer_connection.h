// One connection to a swarm peer, on a thread of its own, in both directions at once.
// Outgoing (Start): TCP connect, optionally from a given source address, and our handshake.
// Incoming (Adopt): a socket the Listener accepted, whose handshake it already read; we
// answer with ours. Then, either way: the handshake checked (info-hash, not ourselves), fast
// extension BEP 6 and extension protocol BEP 10 offered.
//
// Downloading: the peer's bitfield / have / have-all / have-none, interested, pipelined block
// requests (BlockPipeline) once unchoked, SHA-1 of each finished piece, and the ways a peer
// goes wrong: choke mid-piece, rejects, no data (snubbed), disconnects, pieces that fail
// their hash.
// Uploading: our bitfield of verified pieces right after the handshake (have-all / have-none
// when they fit), `have` for pieces verified later (AnnouncePieces; not to a peer that has
// them), choke / unchoke as the job's choker decides (SetChoking), and the peer's requests
// served from the output files through a bounded queue (UploadQueue: out of range, oversize,
// unverified or choked requests refused with BEP 6 reject, or ignored without it; a peer that
// persists is dropped and banned); cancel honoured. Two seeds have nothing to trade: the
// connection closes.
//
// The connection holds no job state: it asks its Delegate (the job) which piece to fetch and
// what we have, and hands back what it learns and fetches. Delegate methods run on the
// connection's thread, never with a lock of the connection held, so the delegate may call the
// thread-safe methods (CancelPieces, Wake, AnnouncePieces, SetChoking) on any connection.
// Nothing is held across socket I/O.
//
//   PeerConnection::Options o;
//   o.key = 1; o.endpoint = {"127.0.0.2", 6881};
//   o.info_hash = m.info_hash; o.peer_id = my_id; o.layout = m.layout();
//   o.piece_hashes = m.piece_hashes;   // must outlive the connection
//   std::unique_ptr<PeerConnection> c = PeerConnection::Start(o, &job);
//   ...
//   c->CancelPieces({7});   // revoked: stop fetching piece 7
//   c->AnnouncePieces({9});  // verified: `have 9`, and served from now on
//   c->SetChoking(false);    // the choker gave it an upload slot
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
#include "bt/endpoint.h"
#include "bt/piece_layout.h"
#include "bt/sha1.h"
#include "bt/wire.h"
#include "peer_svc/block_pipeline.h"
#include "peer_svc/piece_buffer.h"
#include "peer_svc/piece_pool.h"
#include "peer_svc/upload_queue.h"

namespace swarm::peer_svc {

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
    // The last call: the connection is over (or never came up). `banned` when the peer is
    // not to be dialled again: it broke the protocol, sent too many bad pieces or abused
    // uploads (then misbehaved() is true too, and its address is to be banned), or it was
    // ourselves or served another torrent (only this ip:port). Pieces it was fetching are
    // to be released.
    virtual void OnClosed(PeerConnection& conn, const absl::Status& reason, bool banned) = 0;
    // Peers the peer says it is connected to (ut_pex, BEP 11), at most one message a minute
    // and bt::kMaxPexPeers per family taken from it.
    virtual void OnPeersLearned(PeerConnection& conn, const std::vector<bt::Endpoint>& peers) {}
    // The peers we are connected to, for a ut_pex message to this peer (asked once a minute).
    virtual std::vector<bt::Endpoint> PexPeers(PeerConnection& conn) { return {}; }
    // The peer's 20-byte id, from its handshake: an error ends the connection as banned (a
    // peer banned before, now from another address).
    virtual absl::Status CheckPeerId(PeerConnection& conn, std::string_view peer_id) {
      return absl::OkStatus();
    }

    // --- uploading (the defaults: a delegate with nothing to upload) ---

    // The pieces we have verified, for our bitfield right after the handshake. Pieces
    // verified later come through AnnouncePieces (a piece in both is announced once). A
    // bitfield of another size than the torrent's counts as no pieces.
    virtual bt::Bitfield OurPieces(PeerConnection& conn) { return bt::Bitfield(); }
    // Reads a block of a verified piece (in range, at most 128 KiB) into out[0, length).
    virtual absl::Status ReadBlock(PeerConnection& conn, uint32_t piece, uint32_t begin,
                                   uint32_t length, char* out) {
      return absl::UnavailableError("this job uploads nothing");
    }
    // The peer became interested in our pieces, or stopped being so (the choker decides).
    virtual void OnPeerInterest(PeerConnection& conn, bool interested) {}
    // Payload bytes sent since the last call (about four times a second while uploading).
    virtual void OnUploaded(PeerConnection& conn, uint64_t new_bytes) {}
  };

  struct Options {
    PeerKey key = 0;
    bt::Endpoint endpoint;
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
    // Neither side interested in the other for this long: the slot is better spent on
    // another peer (libtorrent's inactivity timeout is the same 10 minutes).
    absl::Duration idle_timeout = absl::Minutes(10);
    // Pieces failing their hash before the peer is dropped and banned.
    int max_bad_pieces = 3;
    // Bytes of blocks we are not (or no longer) assembling, in a row with none we are: past
    // this the peer is pushing data nobody asked for, and is dropped and banned. Above what
    // a cancel can leave in flight legitimately (BlockPipeline's 512 blocks, 8 MiB).
    uint64_t max_unrequested_bytes = 10 << 20;
    // Socket read size: large reads keep the per-byte cost low at hundreds of MB/s.
    size_t read_size = 256 * 1024;
    // The peer's requests: queue bound, size limits, tolerance. Its max_requests is also the
    // request queue limit ("reqq") we announce in our BEP 10 handshake.
    UploadQueue::Options upload;
    // Requested blocks are read from disk into the send buffer up to this many bytes at a
    // time, once the previous batch has gone to the socket (whose own buffer keeps the link
    // busy meanwhile).
    size_t send_batch = 256 * 1024;
    // Our listen port, told to the peer in the BEP 10 handshake ("p"); 0: not told.
    uint16_t listen_port = 0;
    // The torrent's info dictionary (bt::Metainfo::info_bytes), offered under ut_metadata
    // (BEP 9) to peers that came with only a magnet link; must outlive the connection.
    // Empty: not offered (a private torrent's travels only as its .torrent).
    std::string_view info_dict;
    // Offer ut_pex (BEP 11): peers to and from this peer. Not for a private torrent (BEP 27).
    bool pex = false;
  };

  // Starts an outgoing connection's thread. `delegate` must outlive it (until Join returns).
  static std::unique_ptr<PeerConnection> Start(const Options& options, Delegate* delegate);
  // Starts the thread of an incoming connection: `fd` is a connected, non-blocking socket
  // (owned by the connection from now on) whose peer sent `handshake` and nothing of ours
  // has been sent yet. options.endpoint is where the peer connected from.
  static std::unique_ptr<PeerConnection> Adopt(const Options& options, int fd,
                                               const bt::Handshake& handshake, Delegate* delegate);
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
  // These pieces are verified now: announce them with `have` (unless the peer has them or
  // they were in our bitfield) and serve requests for them.
  void AnnouncePieces(absl::Span<const uint32_t> pieces);
  // Choke (no uploads) or unchoke the peer. Connections start choking, as BEP 3 says.
  void SetChoking(bool choking);
  // Closes the connection; OnClosed follows (with a CANCELLED status).
  void Stop();
  // Waits for the thread to end.
  void Join();
  // Whether the thread has finished (OnClosed has returned).
  bool done() const { return done_.load(std::memory_order_acquire); }

  PeerKey key() const { return options_.key; }
  const bt::Endpoint& endpoint() const { return options_.endpoint; }
  bool incoming() const { return incoming_; }
  // The peer has unchoked us (we may request).
  bool unchoked() const { return unchoked_.load(std::memory_order_relaxed); }
  // The peer is interested in our pieces, and whether we choke it (both as last seen by the
  // connection's thread): unchoked and interested means we upload to it.
  bool peer_interested() const { return peer_interested_.load(std::memory_order_relaxed); }
  bool choking() const { return choking_.load(std::memory_order_relaxed); }
  // The peer has announced every piece.
  bool peer_is_seed() const { return peer_seed_.load(std::memory_order_relaxed); }
  // In and after OnClosed: the peer was banned for what it did (see Delegate::OnClosed).
  bool misbehaved() const { return misbehaved_; }
  // Payload bytes received from the peer and sent to it over this connection.
  uint64_t downloaded_bytes() const { return downloaded_total_.load(std::memory_order_relaxed); }
  uint64_t uploaded_bytes() const { return uploaded_total_.load(std::memory_order_relaxed); }
  // Leases this connection could use now to keep its request queue full.
  uint32_t desired_pieces() const { return desired_pieces_.load(std::memory_order_relaxed); }
  // The peer id from the peer's handshake (20 bytes; empty before it). Read it on the
  // connection's thread only, as in Delegate calls.
  const std::string& remote_peer_id() const { return remote_peer_id_; }

 private:
  PeerConnection(const Options& options, Delegate* delegate, int adopted_fd,
                 const bt::Handshake* handshake);
  void Run();
  absl::Status Loop();
  absl::Status Connect();
  // The incoming counterpart of Connect: our handshake, then theirs as if just received.
  absl::Status AdoptSocket();
  // Shared by both directions once the socket is connected.
  void StartTimers(absl::Time now);
  // Reads what the socket has (a few large reads) and handles every whole message.
  absl::Status ReadAndHandle(absl::Time now);
  absl::Status Handle(const bt::Message& m, absl::Time now);
  absl::Status HandleHandshake(const bt::Handshake& h);
  void HandleExtended(const bt::Message& m);
  // A ut_metadata message from the peer: a request is answered with the piece or a reject.
  void HandleMetadataRequest(std::string_view payload);
  void HandlePex(std::string_view payload, absl::Time now);
  // Once a minute: the peers we are connected to, as what changed since the last message.
  void SendPex(absl::Time now);
  // Our bitfield (or have-all / have-none) and BEP 10 handshake, right after the handshakes.
  void SendOurPieces();
  // The peer's pieces changed: recount what it has that we lack.
  void SetPeerPieces(const bt::Bitfield& have);
  absl::Status HandleRequest(const bt::Message& m, absl::Time now);
  // Reads queued requests' blocks into out_ (one batch).
  absl::Status ServeRequests();
  // Both sides have every piece: nothing to trade (BEP 3 practice is to disconnect).
  absl::Status CheckBothSeeds() const;
  void ApplyChoking(bool choking, absl::Time now);
  absl::Status CompletePiece(uint32_t piece);
  // Interest, new pieces from the delegate, requests.
  void UpdateRequests(absl::Time now);
  absl::Status CheckTimers(absl::Time now);
  void ReleaseAllPieces();
  void ReportProgress(absl::Time now, bool force);
  void ReportUploads(absl::Time now, bool force);
  absl::Status Flush();
  absl::Status DrainInbox(absl::Time now);
  // A protocol violation: the peer is banned.
  absl::Status Violation(const absl::Status& status);

  const Options options_;
  Delegate* const delegate_;
  const bool incoming_;
  // Incoming only: the accepted socket until AdoptSocket takes it, and the peer's handshake.
  int adopted_fd_ = -1;
  bt::Handshake adopted_handshake_;

  // Thread-shared.
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<bool> unchoked_{false};
  std::atomic<uint32_t> desired_pieces_{0};
  std::atomic<bool> want_choking_{true};
  std::atomic<bool> choking_{true};
  std::atomic<bool> peer_interested_{false};
  std::atomic<bool> peer_seed_{false};
  std::atomic<uint64_t> downloaded_total_{0};
  std::atomic<uint64_t> uploaded_total_{0};
  int wake_fd_ = -1;
  absl::Mutex inbox_mu_;
  std::vector<uint32_t> cancel_inbox_ ABSL_GUARDED_BY(inbox_mu_);
  std::vector<uint32_t> have_inbox_ ABSL_GUARDED_BY(inbox_mu_);
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
  // The id the peer gave ut_metadata in its extension handshake (0: none), and how many
  // metadata pieces we may still send it (a bound on what its requests can make us send).
  uint8_t peer_ut_metadata_ = 0;
  uint32_t metadata_pieces_left_ = 0;
  // ut_pex: the peer's id for it (0: none), when it last sent us one, when we last sent one,
  // and the peers we last told it of (so the next message says what changed).
  uint8_t peer_ut_pex_ = 0;
  absl::Time pex_received_ = absl::InfinitePast();
  absl::Time pex_sent_ = absl::InfinitePast();
  std::vector<bt::Endpoint> pex_told_;
  bool am_interested_ = false;
  bool peer_unchoked_ = false;  // the peer unchoked us
  bool try_pick_ = true;        // PickPiece may find something (reset by Wake, have, unchoke)
  bool check_interest_ = false;
  bool banned_ = false;
  bool misbehaved_ = false;
  int bad_pieces_ = 0;
  uint64_t unrequested_in_a_row_ = 0;
  absl::Time connected_at_;
  absl::Time last_recv_;
  absl::Time last_send_;
  absl::Time choked_since_;
  // Last time either side was interested in the other.
  absl::Time interest_seen_ = absl::InfinitePast();
  // Since when we have been waiting for a block with requests in flight.
  absl::Time waiting_since_;
  absl::Time last_progress_;
  absl::Time last_pick_retry_;
  uint64_t unreported_bytes_ = 0;
  bool progress_dirty_ = false;
  std::vector<Progress> progress_buf_;

  // Uploading.
  bt::Bitfield our_have_;   // what we have announced (bitfield, then haves)
  bt::Bitfield peer_have_;  // what the peer has announced
  uint32_t lacking_ = 0;    // pieces the peer has and we lack: we are interested while > 0
  bool peer_is_interested_ = false;
  UploadQueue upload_;
  std::vector<UploadQueue::Request> dropped_;  // scratch: requests voided by our choke
  std::vector<uint32_t> inbox_scratch_;
  uint64_t unreported_upload_ = 0;
  absl::Time last_upload_report_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PEER_CONNECTION_H_
