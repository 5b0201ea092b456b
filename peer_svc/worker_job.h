// One job (torrent) as served by this worker: its metainfo and output files, its leases
// (PiecePool), its peer connections (dialled to the peers the coordinator gives, and
// accepted by the worker's Listener), the pieces verified in the job (StartJob.verified,
// PiecesVerified, and its own), who it uploads to (Choker, rechoked from Tick), and what it
// owes the coordinator — PieceFailed as it happens, PiecesDone, peer bitfields and haves in
// batches, PeerClosed, transfer totals for the heartbeat, and RequestWork whenever it has
// room for more leases or peers.
//
// A job whose output folder this worker cannot see streams instead (a PieceStreamer, to a
// worker that can see it): each verified piece goes to that worker's PieceSink, which writes
// it, and stays in a bounded PieceCache, the only pieces such a job uploads and announces.
// Another worker's streamed pieces arrive through WriteStreamedPiece.
//
// While the coordinator checks the job's data (StartJob.check), the job also checks pieces on
// disk for it: it asks for them (RequestChecks) while its PieceChecker has room, and reports
// which matched their hash (PiecesChecked).
//
// Once every piece is verified the job seeds: it asks for no leases, only for peers
// (RequestWork with max_pieces = 0) so that it can dial the leechers the coordinator learns
// of, and keeps uploading to whoever is connected.
//
// Threads: the session's reader calls AddPeers / GrantLeases / RevokeLeases / Stop; the
// session's control thread calls Tick and TakeProgress; every connection calls the
// PeerConnection::Delegate methods from its own thread; the job's PieceWriter thread writes
// verified pieces (the connection hashes them and goes back to its socket), and the job
// reports them from there. When to ask for work is PaceWorkRequests' decision
// (request_pacing.h). All job state is under one mutex, never held during socket or disk I/O.
// Lock order: WorkerJob::mu_ -> PeerConnection's inbox lock (CancelPieces/Wake) and the
// `send` callback's lock, both leaves; the PieceWriter's lock is never held with another.
// peer_svc/WORKER.md tells the whole story.
//
//   WorkerJob job(options, std::move(metainfo), std::move(files),
//           [&](WorkerMessage m) { outbox.Push(std::move(m)); },  // to the coordinator
//           [&] { control.Wake(); });                              // "Tick me soon"
//   job.GrantLeases(grant);     // from the coordinator's stream
//   job.AddPeers(add);
//   job.PiecesVerified(verified);
//   job.AcceptPeer(fd, handshake, from);      // from the Listener
//   job.Tick(absl::Now(), free_peer_slots);   // from the control loop, often
//   job.Stop();
#ifndef SWARM_PEER_SVC_WORKER_JOB_H_
#define SWARM_PEER_SVC_WORKER_JOB_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bt/bitfield.h"
#include "bt/endpoint.h"
#include "bt/metainfo.h"
#include "bt/wire.h"
#include "peer_svc/choker.h"
#include "peer_svc/peer_connection.h"
#include "peer_svc/piece_buffer.h"
#include "peer_svc/piece_cache.h"
#include "peer_svc/piece_checker.h"
#include "peer_svc/piece_memory.h"
#include "peer_svc/piece_pool.h"
#include "peer_svc/piece_streamer.h"
#include "peer_svc/piece_writer.h"
#include "peer_svc/request_pacing.h"
#include "proto/coordinator.pb.h"
#include "storage/content_files.h"

namespace swarm::peer_svc {

class WorkerJob : public PeerConnection::Delegate {
 public:
  using WorkerMessage = pb::WorkerMessage;

  struct Options {
    std::string job_id;
    // Template for every connection: our peer id, source address, timeouts, pipeline. The
    // job fills in key, endpoint, info-hash, layout, piece hashes and buffer pool.
    PeerConnection::Options connection;
    // Leases no peer here can fetch are handed back after this long (peers connect first).
    absl::Duration orphan_grace = absl::Seconds(5);
    // RequestWork pacing and the worker-level endgame (request_pacing.h).
    PacingOptions pacing;
    // Upload slots, rechoke and optimistic unchoke intervals.
    Choker::Options choker;
    // The disk writer's queue bound: connections wait beyond it, and so stop reading from
    // their peers (the disk sets the pace; when streaming, the writing worker does).
    PieceWriter::Options writer;
    // Written pieces are reported (PiecesDone) at most this late, or as soon as this many
    // are waiting: the coordinator's work then follows time, not the piece rate.
    absl::Duration done_delay = absl::Milliseconds(500);
    size_t done_batch = 64;
    // Streaming: bytes of pieces kept after they were streamed, to upload.
    size_t stream_cache_bytes = 64u << 20;
    // Payload bytes received from and sent to peers, for the heartbeat (shared by the
    // worker's jobs).
    std::atomic<uint64_t>* downloaded_bytes = nullptr;
    std::atomic<uint64_t>* uploaded_bytes = nullptr;
    // The worker's budget for piece buffers, shared by its jobs (piece_memory.h); null: none.
    // Held by the job too: its buffers give their bytes back to it until the last is freed.
    std::shared_ptr<PieceMemory> piece_memory;
  };

  // `files` are the job's output files, or null with `streamers` when this worker cannot
  // see them: one stream per writer thread, so that as many pieces are in flight. `verified`: the
  // pieces verified when the job started (any other size than the torrent's piece count: none).
  // `send` queues a message for the coordinator; it must not block and may be called with the job's
  // lock held. `poke` asks for an early Tick (work to report).
  WorkerJob(const Options& options, bt::Metainfo metainfo,
            std::unique_ptr<storage::ContentFiles> files,
            std::vector<std::unique_ptr<PieceStreamer>> streamers, const bt::Bitfield& verified,
            std::function<void(WorkerMessage)> send, std::function<void()> poke);
  // Stops (see Stop).
  ~WorkerJob() override;

  const std::string& job_id() const { return options_.job_id; }
  const bt::Metainfo& metainfo() const { return metainfo_; }
  // Pieces go to another worker, which writes them: this one cannot see the files.
  bool streaming() const { return !streamers_.empty(); }

  // --- from the PieceSink (another worker's verified piece, for our files) ---
  // The size of `piece`, or an error when it is out of range or we cannot write the files.
  absl::StatusOr<uint32_t> StreamedPieceSize(uint32_t piece) const;
  absl::Status WriteStreamedPiece(uint32_t piece, std::string_view bytes);

  // --- from the coordinator ---
  void AddPeers(const pb::AddPeers& add);
  void GrantLeases(const pb::GrantLeases& grant);
  void RevokeLeases(const pb::RevokeLeases& revoke);
  void PiecesVerified(const pb::PiecesVerified& verified);
  // StartJob.check: the coordinator wants the data on disk checked; ask for pieces.
  void StartChecking();
  void CheckPieces(const pb::CheckPieces& check);

  // --- from the Listener ---
  // A peer connected to us with this job's info-hash in `handshake`: adopts `fd` as a
  // connection (true), or returns false when the job is stopping or the peer's address is
  // banned (the caller closes fd).
  bool AcceptPeer(int fd, const bt::Handshake& handshake, const bt::Endpoint& remote);
  // Drops every peer and lease and joins the connections' threads. Nothing more is sent.
  void Stop();

  // --- from the control loop ---
  // Sends batched peer reports, hands back orphaned leases, reaps closed connections and
  // asks for work when there is room (`free_peer_slots`: the worker's connections left).
  // Returns when it wants to be called again at the latest (a RequestWork held back by
  // min_request_gap), or InfiniteFuture.
  absl::Time Tick(absl::Time now, uint32_t free_peer_slots);
  // Progress of leases in flight since the last call, and the job's transfer totals, for
  // the heartbeat.
  void TakeProgress(pb::Heartbeat* heartbeat);
  // Connections open or opening.
  size_t num_peers() const;
  // Connections that peers opened to us: all of them, and those from `ip`.
  struct Incoming {
    size_t all = 0;
    size_t from_ip = 0;
  };
  Incoming CountIncoming(const bt::IpAddress& ip) const;
  // Leases held.
  size_t num_leases() const;
  // Every piece is verified: the job only uploads.
  bool seeding() const;

  // --- PeerConnection::Delegate (connection threads) ---
  void OnPeerPieces(PeerConnection& conn, const bt::Bitfield& have) override;
  void OnPeerHave(PeerConnection& conn, uint32_t piece) override;
  bool WantsFrom(PeerConnection& conn) override;
  std::optional<uint32_t> PickPiece(PeerConnection& conn) override;
  void ReleasePiece(PeerConnection& conn, uint32_t piece, bool refused) override;
  void OnProgress(PeerConnection& conn, absl::Span<const PiecePool::Progress> progress,
                  uint64_t new_bytes) override;
  void OnPieceVerified(PeerConnection& conn, uint32_t piece, PieceBuffer data) override;
  void OnPieceCorrupt(PeerConnection& conn, uint32_t piece) override;
  void OnClosed(PeerConnection& conn, const absl::Status& reason, bool banned) override;
  absl::Status CheckPeerId(PeerConnection& conn, std::string_view peer_id) override;
  void OnPeersLearned(PeerConnection& conn, const std::vector<bt::Endpoint>& peers) override;
  std::vector<bt::Endpoint> PexPeers(PeerConnection& conn) override;
  bt::Bitfield OurPieces(PeerConnection& conn) override;
  absl::Status ReadBlock(PeerConnection& conn, uint32_t piece, uint32_t begin, uint32_t length,
                         char* out) override;
  void OnPeerInterest(PeerConnection& conn, bool interested) override;
  void OnUploaded(PeerConnection& conn, uint64_t new_bytes) override;

 private:
  struct PendingReport {
    bt::Endpoint endpoint;
    bool has_bitfield = false;
    std::string bitfield;
    std::vector<uint32_t> haves;
  };

  // On the checker's thread: whether `piece` on disk matches its hash.
  PieceChecker::OnDisk CheckOnDisk(uint32_t piece, char* buffer) const;
  // On the checker's thread: results to report at the next Tick.
  void OnChecked(PieceChecker::Results results);
  // In Tick: sends check results, and RequestChecks when there is room.
  void SendCheckMessages() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // On the writer's thread: reports a piece that `peer` sent, now written (or not).
  void OnPieceWritten(uint32_t piece, const bt::Endpoint& peer, const absl::Status& written);
  void SetPeer(pb::PeerAddress* out, const bt::Endpoint& endpoint) const;
  // Sends the written pieces not yet reported, if any.
  void SendDoneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels `piece` on each connection in `keys` except `except`.
  void CancelOn(const std::vector<PiecePool::PeerKey>& keys, uint32_t piece,
                PiecePool::PeerKey except) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WakeAll(PiecePool::PeerKey except) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendPieceFailed(uint32_t piece, pb::PieceFailure reason, const bt::Endpoint* peer,
                       std::string detail);
  void SendPeerClosed(const pb::PeerAddress& peer, std::string reason, bool banned = false,
                      bool misbehaved = false);
  // Options for a new connection to `endpoint`, with the next key.
  PeerConnection::Options ConnectionOptions(bt::Endpoint endpoint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts tracking a new connection (conns_, choker).
  void AddConnection(std::unique_ptr<PeerConnection> conn, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records pieces as verified; announces the new ones to every connection and drops
  // leases on them. The job starts seeding when that makes every piece verified.
  void MarkVerified(absl::Span<const uint32_t> pieces) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unchokes the peers the choker put into free slots.
  void FillFreeSlots() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Rechoke(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The writer's sink: the piece into the files, or to the sink worker (and the cache).
  absl::Status Store(uint32_t piece, std::string_view bytes);
  // What PaceWorkRequests decides from.
  PacingState GetPacingState(uint32_t free_peer_slots) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const bt::Metainfo metainfo_;
  const std::unique_ptr<storage::ContentFiles> files_;
  const std::vector<std::unique_ptr<PieceStreamer>> streamers_;
  // Which streamers a writer thread is using (as many as threads: one is always free).
  absl::Mutex streamers_mu_;
  std::vector<bool> streamer_busy_ ABSL_GUARDED_BY(streamers_mu_);
  // Streaming: the pieces still held after they were streamed (thread-safe).
  PieceCache cache_;
  const std::function<void(WorkerMessage)> send_;
  const std::function<void()> poke_;
  // Piece buffers, shared by the connections (which fill them) and the writer.
  BufferPool buffers_;
  // Payload bytes since the job started here, for the heartbeat's JobTransfer.
  std::atomic<uint64_t> downloaded_{0};
  std::atomic<uint64_t> uploaded_{0};

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  PiecePool pool_ ABSL_GUARDED_BY(mu_);
  PiecePool::PeerKey next_key_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<PiecePool::PeerKey, std::unique_ptr<PeerConnection>> conns_
      ABSL_GUARDED_BY(mu_);
  // "ip:port" of connected peers (no second connection to one), and of peers not to dial
  // again that did nothing wrong (ourselves, another torrent's).
  absl::flat_hash_set<std::string> connected_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> shunned_ ABSL_GUARDED_BY(mu_);
  // IP addresses of peers banned for what they did: one that dialled in comes from a new
  // port each time, so a ban by ip:port would let it straight back in.
  absl::flat_hash_set<std::string> banned_ ABSL_GUARDED_BY(mu_);
  // Their peer ids too: the same client back from another address (a second interface, a
  // new lease) is refused at its handshake.
  absl::flat_hash_set<std::string> banned_peer_ids_ ABSL_GUARDED_BY(mu_);
  // Seeds we dialled and dropped while seeding ourselves: not dialled again.
  absl::flat_hash_set<std::string> seeds_ ABSL_GUARDED_BY(mu_);
  // Pieces verified in the job: what we upload and announce.
  bt::Bitfield verified_ ABSL_GUARDED_BY(mu_);
  Choker choker_ ABSL_GUARDED_BY(mu_);
  // Became a seed since the last RequestWork: say so (max_pieces = 0) at the next Tick,
  // whatever the free peer slots, so the coordinator drops the standing lease request.
  bool became_seed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<PiecePool::PeerKey, PendingReport> reports_ ABSL_GUARDED_BY(mu_);
  // The last leases granted were endgame leases: other workers may hold the same pieces.
  bool shared_endgame_ ABSL_GUARDED_BY(mu_) = false;
  // Written and not yet reported (PiecesDone), and since when the oldest has waited.
  pb::PiecesDone done_ ABSL_GUARDED_BY(mu_);
  absl::Time done_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // Something changed that may change what to ask for (leases finished or handed back, new
  // availability; a peer gone): ask without waiting for the interval.
  bool pieces_changed_ ABSL_GUARDED_BY(mu_) = true;
  bool peers_changed_ ABSL_GUARDED_BY(mu_) = true;
  absl::Time last_request_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Since when leases were asked for and none came (InfiniteFuture: not waiting).
  absl::Time starved_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // Checking for the coordinator: asked to (StartJob.check); pieces granted and not yet
  // reported; results not yet sent; results sent since the last RequestChecks (or none yet).
  bool checking_ ABSL_GUARDED_BY(mu_) = false;
  size_t checks_held_ ABSL_GUARDED_BY(mu_) = 0;
  PieceChecker::Results checked_ ABSL_GUARDED_BY(mu_);
  bool ask_for_checks_ ABSL_GUARDED_BY(mu_) = false;

  // Last: their threads, which use files_, buffers_ and mu_, start after them and are joined
  // before they go.
  PieceWriter writer_;
  PieceChecker checker_;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_WORKER_JOB_H_
