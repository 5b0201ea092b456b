#include "peer_svc/peer_connection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "bt/extension_handshake.h"
#include "bt/ut_metadata.h"
#include "bt/ut_pex.h"
#include "net/tcp_connect.h"

namespace swarm::peer_svc {
namespace {

using ::swarm::Absl;

absl::Status Errno(std::string_view what) {
  return absl::UnavailableError(absl::StrCat(Absl(what), ": ", strerror(errno)));
}

bool IsPeerGone(int err) { return err == EPIPE || err == ECONNRESET; }

// The ids under which peers send us ut_pex and ut_metadata messages (ours to choose, BEP 10).
constexpr uint8_t kUtPexId = 1;
constexpr uint8_t kUtMetadataId = 2;
// BEP 11: a ut_pex message at most once a minute, both ways (a little early is forgiven).
constexpr absl::Duration kPexInterval = absl::Seconds(60);
constexpr absl::Duration kPexTolerated = absl::Seconds(45);

// Our BEP 10 handshake: the extension messages we take (ut_metadata with the dictionary's
// size when we serve it, ut_pex), our listen port (so a peer that we dialled knows where to
// reach us), our request queue limit, and our name (peers log it). Keys in sorted order, as
// bencoding wants.
std::string ExtendedHandshake(uint16_t listen_port, uint32_t reqq, size_t metadata_size, bool pex) {
  std::string d = "d1:md";
  if (metadata_size > 0) absl::StrAppend(&d, "11:ut_metadatai", kUtMetadataId, "e");
  if (pex) absl::StrAppend(&d, "6:ut_pexi", kUtPexId, "e");
  d += "e";
  if (metadata_size > 0) absl::StrAppend(&d, "13:metadata_sizei", metadata_size, "e");
  if (listen_port != 0) absl::StrAppend(&d, "1:pi", listen_port, "e");
  absl::StrAppend(&d, "4:reqqi", reqq, "e1:v9:swarm/0.1e");
  return d;
}

// Cap on unsent control bytes beyond the block batch: a backlog this big means the peer
// stopped reading while making us answer (rejects to its requests).
constexpr size_t kMaxOutBacklog = 1 << 20;

// Longest poll() wait: bounds how late a timer fires.
constexpr absl::Duration kMaxPollWait = absl::Milliseconds(250);
// How often progress goes to the delegate while data flows.
constexpr absl::Duration kProgressInterval = absl::Milliseconds(250);
// Ask PickPiece again at least this often even without a Wake, in case one was missed.
constexpr absl::Duration kPickRetry = absl::Seconds(1);
// How soon to try again when the worker's piece memory was spent.
constexpr absl::Duration kMemoryRetry = absl::Milliseconds(50);

}  // namespace

PeerConnection::PeerConnection(const Options& options, Delegate* delegate, int adopted_fd,
                               const bt::Handshake* handshake)
    : options_(options),
      delegate_(delegate),
      incoming_(handshake != nullptr),
      adopted_fd_(adopted_fd),
      parser_(
          [&] {
            bt::MessageParser::Limits limits;
            limits.num_pieces = options.layout.num_pieces();
            // Requests of any length pass the parser, so that the UploadQueue can refuse an
            // oversize one (and count it) rather than the parser dropping the peer at once.
            // Blocks stay bounded by the message length limit, and the pipeline checks
            // every block against what we asked for.
            limits.max_request_length = UINT32_MAX;
            return limits;
          }(),
          // The Listener has read an incoming peer's handshake already.
          handshake != nullptr ? bt::MessageParser::StreamStart::kMessages
                               : bt::MessageParser::StreamStart::kHandshake),
      pipeline_(options.layout, options.pipeline, absl::Now(), options.buffer_pool),
      our_have_(options.layout.num_pieces()),
      peer_have_(options.layout.num_pieces()),
      upload_(options.layout, options.upload) {
  if (handshake != nullptr) adopted_handshake_ = *handshake;
}

std::unique_ptr<PeerConnection> PeerConnection::Start(const Options& options, Delegate* delegate) {
  std::unique_ptr<PeerConnection> c(new PeerConnection(options, delegate, -1, nullptr));
  c->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  c->thread_ = std::thread([p = c.get()] { p->Run(); });
  return c;
}

std::unique_ptr<PeerConnection> PeerConnection::Adopt(const Options& options, int fd,
                                                      const bt::Handshake& handshake,
                                                      Delegate* delegate) {
  std::unique_ptr<PeerConnection> c(new PeerConnection(options, delegate, fd, &handshake));
  c->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  c->thread_ = std::thread([p = c.get()] { p->Run(); });
  return c;
}

PeerConnection::~PeerConnection() {
  Stop();
  Join();
  if (wake_fd_ >= 0) close(wake_fd_);
  // Never started (cannot happen: Adopt starts the thread that takes it), but never leaked.
  if (adopted_fd_ >= 0) close(adopted_fd_);
}

void PeerConnection::CancelPieces(absl::Span<const uint32_t> pieces) {
  {
    absl::MutexLock lock(&inbox_mu_);
    cancel_inbox_.insert(cancel_inbox_.end(), pieces.begin(), pieces.end());
  }
  Wake();
}

void PeerConnection::Wake() {
  {
    absl::MutexLock lock(&inbox_mu_);
    woken_ = true;
  }
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    // A full counter (never in practice) still leaves the fd readable: the wake is not lost.
    (void)!write(wake_fd_, &one, sizeof(one));
  }
}

void PeerConnection::AnnouncePieces(absl::Span<const uint32_t> pieces) {
  {
    absl::MutexLock lock(&inbox_mu_);
    have_inbox_.insert(have_inbox_.end(), pieces.begin(), pieces.end());
  }
  Wake();
}

void PeerConnection::SetChoking(bool choking) {
  if (want_choking_.exchange(choking) != choking) Wake();
}

void PeerConnection::Stop() {
  stop_.store(true);
  Wake();
}

void PeerConnection::Join() {
  if (thread_.joinable()) thread_.join();
}

absl::Status PeerConnection::Violation(const absl::Status& status) {
  banned_ = misbehaved_ = true;
  return absl::InvalidArgumentError(absl::StrCat("protocol violation: ", status.message()));
}

void PeerConnection::Run() {
  absl::Status status = incoming_ ? AdoptSocket() : Connect();
  if (status.ok()) status = Loop();
  // Leaving in good order (both seeds, say): what is already queued — often the cancels and
  // haves of the last pieces — goes out first, as far as the socket takes it without waiting.
  // Best effort only: closing the connection cancels everything anyway.
  if (fd_ >= 0 && handshake_done_ && !banned_) (void)Flush();
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  unchoked_.store(false);
  desired_pieces_.store(0);
  peer_interested_.store(false);
  choking_.store(true);
  // The bytes counted since the last report still count as downloaded (and uploaded).
  if (unreported_bytes_ > 0) ReportProgress(absl::Now(), /*force=*/true);
  ReportUploads(absl::Now(), /*force=*/true);
  delegate_->OnClosed(*this, status, banned_);
  done_.store(true, std::memory_order_release);
}

absl::Status PeerConnection::Connect() {
  // Nagle off: "interested" right after the handshake would wait for a delayed ACK (~40 ms),
  // and so would the unchoke.
  SWARM_ASSIGN_OR_RETURN(fd_, net::StartTcpConnect(options_.endpoint, options_.bind_ip));
  const absl::Time deadline = absl::Now() + options_.connect_timeout;
  while (true) {
    if (stop_.load()) return absl::CancelledError("stopped while connecting");
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("connect timed out after ", absl::FormatDuration(options_.connect_timeout)));
    }
    pollfd fds[2] = {{fd_, POLLOUT, 0}, {wake_fd_, POLLIN, 0}};
    const int n = poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno != EINTR) return Errno("poll");
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof(v));
    }
    if (n > 0 && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) break;
  }
  SWARM_RETURN_IF_ERROR(net::TcpConnectResult(fd_));

  StartTimers(absl::Now());
  return absl::OkStatus();
}

void PeerConnection::StartTimers(absl::Time now) {
  connected_at_ = now;
  last_recv_ = now;
  last_send_ = now;
  last_progress_ = now;
  last_pick_retry_ = now;
  last_upload_report_ = now;
  bt::Handshake h;
  h.info_hash = options_.info_hash;
  h.peer_id = options_.peer_id;
  h.set_fast_extension(true);
  h.set_extension_protocol(true);
  bt::AppendHandshake(&out_, h);
  read_buf_.reset(new char[options_.read_size]);
}

absl::Status PeerConnection::AdoptSocket() {
  fd_ = adopted_fd_;
  adopted_fd_ = -1;
  const int one = 1;  // as in Connect: our small messages must not wait for delayed ACKs
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  StartTimers(absl::Now());
  return HandleHandshake(adopted_handshake_);
}

absl::Status PeerConnection::Loop() {
  while (true) {
    if (stop_.load()) return absl::CancelledError("stopped");
    absl::Time now = absl::Now();
    SWARM_RETURN_IF_ERROR(CheckTimers(now));
    SWARM_RETURN_IF_ERROR(DrainInbox(now));
    if (handshake_done_) {
      // Checked every turn, not only on a wake: a choker decision made before the handshake
      // waits here for it.
      ApplyChoking(want_choking_.load(), now);
      UpdateRequests(now);
    }
    SWARM_RETURN_IF_ERROR(Flush());
    // Blocks go into the send buffer only once it is empty, so sent bytes are never moved
    // about in it; the socket's own buffer keeps the link busy while we read the next batch.
    // Bounded: the queue holds at most UploadQueue::Options::max_requests.
    while (out_.empty() && !send_closed_ && !upload_.empty()) {
      SWARM_RETURN_IF_ERROR(ServeRequests());
      SWARM_RETURN_IF_ERROR(Flush());
    }
    if (out_.size() - out_pos_ > kMaxOutBacklog + options_.send_batch) {
      return absl::ResourceExhaustedError("peer does not read what we send");
    }

    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (out_pos_ < out_.size() && !send_closed_) fds[0].events |= POLLOUT;
    const int n = poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(kMaxPollWait)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("poll");
    }
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof(v));
    }
    if (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) {
      now = absl::Now();
      SWARM_RETURN_IF_ERROR(ReadAndHandle(now));
    }
  }
}

absl::Status PeerConnection::ReadAndHandle(absl::Time now) {
  // A few reads per wake-up: drains a fast peer's burst without starving the timers and
  // the request refill in Loop.
  for (int i = 0; i < 4; ++i) {
    const ssize_t n = recv(fd_, read_buf_.get(), options_.read_size, 0);
    if (n == 0) {
      return absl::UnavailableError(handshake_done_ ? "peer closed the connection"
                                                    : "peer closed the connection before "
                                                      "its handshake");
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      if (IsPeerGone(errno)) {
        return absl::UnavailableError(
            absl::StrCat("peer closed the connection (recv: ", strerror(errno), ")"));
      }
      return Errno("recv");
    }
    last_recv_ = now;
    parser_.Feed(std::string_view(read_buf_.get(), static_cast<size_t>(n)));
    while (true) {
      absl::StatusOr<std::optional<bt::Message>> m = parser_.Next();
      if (!m.ok()) return Violation(m.status());
      if (!m->has_value()) break;
      SWARM_RETURN_IF_ERROR(Handle(**m, now));
      if (stop_.load()) return absl::CancelledError("stopped");
    }
    if (static_cast<size_t>(n) < options_.read_size) break;
  }
  return absl::OkStatus();
}

absl::Status PeerConnection::HandleHandshake(const bt::Handshake& h) {
  if (h.info_hash != options_.info_hash) {
    banned_ = true;
    return absl::FailedPreconditionError(absl::StrCat("peer answered with info-hash ",
                                                      bt::ToHex(h.info_hash), ", not ",
                                                      bt::ToHex(options_.info_hash)));
  }
  if (h.peer_id == options_.peer_id) {
    banned_ = true;
    return absl::FailedPreconditionError("connected to ourselves (same peer id)");
  }
  remote_peer_id_.assign(h.peer_id.begin(), h.peer_id.end());
  if (absl::Status allowed = delegate_->CheckPeerId(*this, remote_peer_id_); !allowed.ok()) {
    banned_ = true;
    return allowed;
  }
  handshake_done_ = true;
  check_interest_ = true;
  fast_ = h.fast_extension();
  SendOurPieces();
  if (h.extension_protocol()) {
    bt::AppendExtended(&out_, 0,
                       ExtendedHandshake(options_.listen_port, options_.upload.max_requests,
                                         options_.info_dict.size(), options_.pex));
  }
  return absl::OkStatus();
}

void PeerConnection::SendOurPieces() {
  bt::Bitfield have = delegate_->OurPieces(*this);
  if (have.size() == options_.layout.num_pieces()) our_have_ = std::move(have);
  // BEP 6: with the fast extension one of bitfield / have-all / have-none must come first.
  // Without it a peer with no pieces may send no bitfield at all (BEP 3).
  if (fast_ && our_have_.All()) {
    bt::AppendHaveAll(&out_);
  } else if (fast_ && our_have_.None()) {
    bt::AppendHaveNone(&out_);
  } else if (!our_have_.None()) {
    bt::AppendBitfield(&out_, our_have_);
  }
}

void PeerConnection::SetPeerPieces(const bt::Bitfield& have) {
  peer_have_ = have;
  peer_seed_.store(peer_have_.All(), std::memory_order_relaxed);
  lacking_ = 0;
  // Once per bitfield: a bit at a time is fast enough even for a million pieces.
  for (uint32_t p = 0; p < peer_have_.size(); ++p) {
    if (peer_have_.Get(p) && !our_have_.Get(p)) ++lacking_;
  }
}

absl::Status PeerConnection::CheckBothSeeds() const {
  if (handshake_done_ && our_have_.All() && peer_have_.All()) {
    return absl::FailedPreconditionError("the peer is a seed and so are we: nothing to trade");
  }
  return absl::OkStatus();
}

absl::Status PeerConnection::HandleRequest(const bt::Message& m, absl::Time now) {
  const UploadQueue::Request r{m.index, m.begin, m.length};
  switch (upload_.OnRequest(r, our_have_.Get(m.index), now)) {
    case UploadQueue::Verdict::kQueued:
      break;
    case UploadQueue::Verdict::kRefused:
      // BEP 6 wants an explicit refusal; BEP 3 peers learn nothing (they time out or retry).
      if (fast_) bt::AppendReject(&out_, m.index, m.begin, m.length);
      break;
    case UploadQueue::Verdict::kBan:
      banned_ = misbehaved_ = true;
      return absl::PermissionDeniedError(absl::StrCat("dropped: ", upload_.ban_reason()));
  }
  return absl::OkStatus();
}

absl::Status PeerConnection::ServeRequests() {
  const size_t batch_end = out_.size() + options_.send_batch;
  // Sized once for a whole batch (plus the block that crosses the line): no reallocation
  // per block.
  if (out_.capacity() < options_.send_batch + options_.upload.max_request_length + 4096) {
    out_.reserve(options_.send_batch + options_.upload.max_request_length + 4096);
  }
  uint64_t sent = 0;
  while (out_.size() < batch_end) {
    std::optional<UploadQueue::Request> r = upload_.Pop();
    if (!r) break;
    const size_t start = out_.size();
    bt::AppendPieceHeader(&out_, r->piece, r->begin, r->length);
    const size_t data_at = out_.size();
    out_.resize(data_at + r->length);
    const absl::Status read =
        delegate_->ReadBlock(*this, r->piece, r->begin, r->length, out_.data() + data_at);
    if (!read.ok()) {
      out_.resize(start);
      // Our disk, not the peer: not banned.
      return absl::InternalError(
          absl::StrCat("cannot read piece ", r->piece, " to upload: ", read.message()));
    }
    sent += r->length;
  }
  uploaded_total_.fetch_add(sent, std::memory_order_relaxed);
  unreported_upload_ += sent;
  return absl::OkStatus();
}

void PeerConnection::ApplyChoking(bool choking, absl::Time now) {
  if (choking == upload_.choking()) return;
  if (choking) {
    dropped_.clear();
    upload_.Choke(now, &dropped_);
    bt::AppendChoke(&out_);
    // BEP 6: a choke voids the queue, and the fast extension says so request by request.
    if (fast_) {
      for (const UploadQueue::Request& r : dropped_) {
        bt::AppendReject(&out_, r.piece, r.begin, r.length);
      }
    }
  } else {
    upload_.Unchoke();
    bt::AppendUnchoke(&out_);
  }
  choking_.store(choking, std::memory_order_relaxed);
}

void PeerConnection::HandleExtended(const bt::Message& m) {
  if (m.extended_id == kUtMetadataId && !options_.info_dict.empty()) {
    HandleMetadataRequest(m.data);
    return;
  }
  if (m.extended_id == kUtPexId && options_.pex) {
    HandlePex(m.data, absl::Now());
    return;
  }
  if (m.extended_id != 0) return;  // not a message we announced
  // The extension handshake is optional and advisory: a malformed one is ignored.
  absl::StatusOr<bt::ExtensionHandshake> h = bt::ParseExtensionHandshake(m.data);
  if (!h.ok()) return;
  if (h->reqq) pipeline_.SetPeerQueueLimit(*h->reqq);
  if (const auto it = h->extensions.find("ut_pex"); it != h->extensions.end() && options_.pex) {
    peer_ut_pex_ = it->second;
  }
  if (const auto it = h->extensions.find("ut_metadata"); it != h->extensions.end()) {
    peer_ut_metadata_ = it->second;
    // Twice the whole dictionary, and a little: enough for a peer that lost some pieces.
    metadata_pieces_left_ =
        2 * bt::MetadataPieces(static_cast<uint32_t>(options_.info_dict.size())) + 4;
  }
}

void PeerConnection::HandlePex(std::string_view payload, absl::Time now) {
  // More often than BEP 11 allows, or malformed: ignored (it costs the peer nothing to
  // resend, and a list it floods us with would only fill the job's pool).
  if (now - pex_received_ < kPexTolerated) return;
  pex_received_ = now;
  absl::StatusOr<bt::PexMessage> m = bt::ParsePexMessage(payload);
  if (m.ok() && !m->added.empty()) delegate_->OnPeersLearned(*this, m->added);
}

void PeerConnection::SendPex(absl::Time now) {
  if (!options_.pex || peer_ut_pex_ == 0 || now - pex_sent_ < kPexInterval) return;
  pex_sent_ = now;
  std::vector<bt::Endpoint> peers = delegate_->PexPeers(*this);
  std::vector<bt::Endpoint> added, dropped;
  for (const bt::Endpoint& e : peers) {
    if (std::find(pex_told_.begin(), pex_told_.end(), e) == pex_told_.end()) added.push_back(e);
  }
  for (const bt::Endpoint& e : pex_told_) {
    if (std::find(peers.begin(), peers.end(), e) == peers.end()) dropped.push_back(e);
  }
  if (added.empty() && dropped.empty()) return;
  bt::AppendExtended(&out_, peer_ut_pex_, bt::EncodePexMessage(added, dropped));
  pex_told_ = std::move(peers);
}

void PeerConnection::HandleMetadataRequest(std::string_view payload) {
  // A malformed or unknown message is ignored (BEP 9); only requests need an answer.
  absl::StatusOr<bt::MetadataMessage> m = bt::ParseMetadataMessage(payload);
  if (!m.ok() || m->type != bt::MetadataMessageType::kRequest || peer_ut_metadata_ == 0) return;
  const uint32_t size = static_cast<uint32_t>(options_.info_dict.size());
  if (m->piece >= bt::MetadataPieces(size) || metadata_pieces_left_ == 0) {
    bt::AppendExtended(&out_, peer_ut_metadata_, bt::EncodeMetadataReject(m->piece));
    return;
  }
  --metadata_pieces_left_;
  const std::string_view piece = options_.info_dict.substr(
      size_t{m->piece} * bt::kMetadataPieceSize, bt::MetadataPieceLength(size, m->piece));
  bt::AppendExtended(&out_, peer_ut_metadata_, bt::EncodeMetadataData(m->piece, size, piece));
}

absl::Status PeerConnection::Handle(const bt::Message& m, absl::Time now) {
  using bt::MessageType;
  if (m.type == MessageType::kHandshake) return HandleHandshake(m.handshake);
  switch (m.type) {
    case MessageType::kPiece: {
      const BlockPipeline::BlockResult result = pipeline_.OnBlock(m.index, m.begin, m.data, now);
      if (result == BlockPipeline::BlockResult::kInvalid) {
        return Violation(absl::InvalidArgumentError(
            absl::StrCat("piece ", m.index, " block at ", m.begin, " of ", m.data.size(),
                         " bytes is not a block we request")));
      }
      if (result == BlockPipeline::BlockResult::kIgnored) {
        unrequested_in_a_row_ += m.data.size();
        if (unrequested_in_a_row_ > options_.max_unrequested_bytes) {
          return Violation(absl::InvalidArgumentError(absl::StrCat(
              "sent ", unrequested_in_a_row_, " bytes of blocks we did not ask for in a row")));
        }
        return absl::OkStatus();
      }
      unrequested_in_a_row_ = 0;
      downloaded_total_.fetch_add(m.data.size(), std::memory_order_relaxed);
      unreported_bytes_ += m.data.size();
      progress_dirty_ = true;
      waiting_since_ = now;
      if (result == BlockPipeline::BlockResult::kPieceComplete) return CompletePiece(m.index);
      return absl::OkStatus();
    }
    case MessageType::kChoke:
      if (peer_unchoked_) choked_since_ = now;
      peer_unchoked_ = false;
      unchoked_.store(false, std::memory_order_relaxed);
      pipeline_.OnChoke();
      return absl::OkStatus();
    case MessageType::kUnchoke:
      if (!peer_unchoked_) waiting_since_ = now;
      peer_unchoked_ = true;
      unchoked_.store(true, std::memory_order_relaxed);
      try_pick_ = true;
      return absl::OkStatus();
    case MessageType::kBitfield:
      SetPeerPieces(m.bitfield);
      delegate_->OnPeerPieces(*this, m.bitfield);
      check_interest_ = try_pick_ = true;
      return CheckBothSeeds();
    case MessageType::kHaveAll:
    case MessageType::kHaveNone: {
      if (!fast_) {
        return Violation(absl::InvalidArgumentError(
            absl::StrCat(Absl(bt::MessageTypeName(m.type)), " without the fast extension")));
      }
      bt::Bitfield have(options_.layout.num_pieces());
      if (m.type == MessageType::kHaveAll) have.SetAll();
      SetPeerPieces(have);
      delegate_->OnPeerPieces(*this, have);
      check_interest_ = try_pick_ = true;
      return CheckBothSeeds();
    }
    case MessageType::kHave:
      // A piece it announced before is news to nobody: passing it on would let a peer that
      // repeats it fill the job's reports without bound.
      if (peer_have_.Get(m.index)) return absl::OkStatus();
      peer_have_.Set(m.index);
      if (!our_have_.Get(m.index)) ++lacking_;
      if (peer_have_.All()) peer_seed_.store(true, std::memory_order_relaxed);
      delegate_->OnPeerHave(*this, m.index);
      check_interest_ = try_pick_ = true;
      return CheckBothSeeds();
    case MessageType::kReject: {
      if (!fast_) {
        return Violation(absl::InvalidArgumentError("reject without the fast extension"));
      }
      if (pipeline_.OnReject(m.index, m.begin, m.length) == BlockPipeline::RejectResult::kGiveUp) {
        pipeline_.DropPiece(m.index, &out_);
        delegate_->ReleasePiece(*this, m.index, /*refused=*/true);
      }
      return absl::OkStatus();
    }
    case MessageType::kRequest:
      return HandleRequest(m, now);
    case MessageType::kCancel:
      upload_.Cancel(UploadQueue::Request{m.index, m.begin, m.length});
      return absl::OkStatus();
    case MessageType::kInterested:
    case MessageType::kNotInterested: {
      const bool interested = m.type == MessageType::kInterested;
      if (interested == peer_is_interested_) return absl::OkStatus();
      peer_is_interested_ = interested;
      peer_interested_.store(interested, std::memory_order_relaxed);
      delegate_->OnPeerInterest(*this, interested);
      return absl::OkStatus();
    }
    case MessageType::kExtended:
      HandleExtended(m);
      return absl::OkStatus();
    default:
      // keep-alive, port, suggest, allowed fast and unknown ids: nothing to do (we have no
      // DHT and grant no allowed-fast pieces).
      return absl::OkStatus();
  }
}

absl::Status PeerConnection::CompletePiece(uint32_t piece) {
  // Room for another piece; and one that failed may be offered again.
  try_pick_ = true;
  const std::string_view data = pipeline_.PieceData(piece);
  const bt::Sha1Digest digest = bt::Sha1(data);
  const std::string_view expected = options_.piece_hashes.substr(size_t{piece} * 20, 20);
  if (bt::AsBytes(digest) == expected) {
    // Hashed here, while the bytes are still in cache; written by the job's writer thread,
    // while this one goes back to the socket.
    delegate_->OnPieceVerified(*this, piece, pipeline_.TakePiece(piece));
    return absl::OkStatus();
  }
  pipeline_.FinishPiece(piece);
  delegate_->OnPieceCorrupt(*this, piece);
  if (++bad_pieces_ >= options_.max_bad_pieces) {
    banned_ = misbehaved_ = true;
    return absl::DataLossError(
        absl::StrCat("sent ", bad_pieces_, " pieces that failed their hash check"));
  }
  return absl::OkStatus();
}

void PeerConnection::UpdateRequests(absl::Time now) {
  if (check_interest_) {
    check_interest_ = false;
    // Interested exactly while the peer has a piece we still need (or one of our leases, as
    // the delegate knows): then it may unchoke us before the leases for its pieces arrive.
    const bool want = lacking_ > 0 || delegate_->WantsFrom(*this);
    if (want && !am_interested_) {
      bt::AppendInterested(&out_);
      am_interested_ = true;
    } else if (!want && am_interested_ && pipeline_.num_pieces() == 0) {
      bt::AppendNotInterested(&out_);
      am_interested_ = false;
    }
  }
  if (peer_unchoked_) {
    if (now - last_pick_retry_ >= kPickRetry) {
      last_pick_retry_ = now;
      try_pick_ = true;
    }
    while (try_pick_ && pipeline_.WantsPiece()) {
      // The buffer first: a piece picked without one would sit here, taken from the others.
      if (!pipeline_.ReserveBuffer()) {
        try_pick_ = false;
        // The worker's piece memory is spent: try again soon rather than at kPickRetry.
        last_pick_retry_ = now - kPickRetry + kMemoryRetry;
        break;
      }
      std::optional<uint32_t> piece = delegate_->PickPiece(*this);
      if (!piece) {
        try_pick_ = false;
        pipeline_.ReturnSpareBuffers();
        break;
      }
      if (pipeline_.HasPiece(*piece)) continue;  // cannot happen: the pool knows we have it
      pipeline_.AddPiece(*piece);                // cannot fail: the buffer is reserved
      if (!am_interested_) {
        bt::AppendInterested(&out_);
        am_interested_ = true;
      }
    }
    const bool was_idle = pipeline_.in_flight() == 0;
    if (pipeline_.AppendRequests(&out_) > 0 && was_idle) waiting_since_ = now;
  }
  desired_pieces_.store(peer_unchoked_ ? pipeline_.DesiredPieces() : (am_interested_ ? 1 : 0),
                        std::memory_order_relaxed);
}

void PeerConnection::ReleaseAllPieces() {
  for (uint32_t piece : pipeline_.Pieces()) {
    pipeline_.DropPiece(piece, &out_);
    delegate_->ReleasePiece(*this, piece, /*refused=*/false);
  }
}

void PeerConnection::ReportProgress(absl::Time now, bool force) {
  if (!force && (!progress_dirty_ || now - last_progress_ < kProgressInterval)) return;
  progress_buf_.clear();
  pipeline_.ForEachPiece([this](uint32_t piece, uint32_t bytes) {
    progress_buf_.push_back(Progress{piece, bytes});
  });
  delegate_->OnProgress(*this, progress_buf_, unreported_bytes_);
  unreported_bytes_ = 0;
  progress_dirty_ = false;
  last_progress_ = now;
}

void PeerConnection::ReportUploads(absl::Time now, bool force) {
  if (unreported_upload_ == 0 || (!force && now - last_upload_report_ < kProgressInterval)) return;
  delegate_->OnUploaded(*this, unreported_upload_);
  unreported_upload_ = 0;
  last_upload_report_ = now;
}

absl::Status PeerConnection::CheckTimers(absl::Time now) {
  pipeline_.Tick(now);
  ReportProgress(now, /*force=*/false);
  ReportUploads(now, /*force=*/false);
  if (!handshake_done_) {
    if (now - connected_at_ > options_.handshake_timeout) {
      return absl::DeadlineExceededError("no handshake from the peer");
    }
    return absl::OkStatus();
  }
  SendPex(now);
  if (now - last_recv_ > options_.receive_timeout) {
    return absl::DeadlineExceededError(
        absl::StrCat("nothing received for ", absl::FormatDuration(now - last_recv_)));
  }
  if (am_interested_ || peer_interested() || interest_seen_ == absl::InfinitePast()) {
    interest_seen_ = now;
  } else if (now - interest_seen_ > options_.idle_timeout) {
    return absl::DeadlineExceededError(absl::StrCat("idle: neither side interested for ",
                                                    absl::FormatDuration(now - interest_seen_)));
  }
  if (peer_unchoked_ && pipeline_.in_flight() > 0 && now - waiting_since_ > options_.snub_timeout) {
    return absl::DeadlineExceededError(
        absl::StrCat("snubbed: no block for ", absl::FormatDuration(now - waiting_since_), " with ",
                     pipeline_.in_flight(), " requests in flight"));
  }
  if (!peer_unchoked_ && pipeline_.num_pieces() > 0 &&
      now - choked_since_ > options_.choke_release_after) {
    ReleaseAllPieces();
  }
  if (now - last_send_ > options_.keepalive_interval && out_pos_ == out_.size()) {
    bt::AppendKeepAlive(&out_);
  }
  return absl::OkStatus();
}

absl::Status PeerConnection::DrainInbox(absl::Time now) {
  std::vector<uint32_t> cancels;
  inbox_scratch_.clear();
  {
    absl::MutexLock lock(&inbox_mu_);
    if (!woken_ && cancel_inbox_.empty() && have_inbox_.empty()) return absl::OkStatus();
    cancels.swap(cancel_inbox_);
    // Swapped with a cleared vector of ours: both keep their capacity.
    inbox_scratch_.swap(have_inbox_);
    woken_ = false;
  }
  try_pick_ = check_interest_ = true;
  for (uint32_t piece : cancels) pipeline_.DropPiece(piece, peer_unchoked_ ? &out_ : nullptr);
  // Before the handshake nothing is sent: the bitfield, taken from the delegate at the
  // handshake, already holds every piece announced until then.
  if (!handshake_done_) return absl::OkStatus();
  for (uint32_t piece : inbox_scratch_) {
    if (piece >= our_have_.size() || our_have_.Get(piece)) continue;  // announced once only
    our_have_.Set(piece);
    if (peer_have_.Get(piece)) {
      --lacking_;  // it has it: no need to tell it
    } else {
      bt::AppendHave(&out_, piece);
    }
  }
  return CheckBothSeeds();
}

absl::Status PeerConnection::Flush() {
  while (!send_closed_ && out_pos_ < out_.size()) {
    const ssize_t n = send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      if (IsPeerGone(errno)) {
        // The peer hung up, but what it sent before may still be waiting to be read (a
        // whole piece, say): stop sending and let the reads reach the end of its stream.
        send_closed_ = true;
        break;
      }
      return Errno("send");
    }
    out_pos_ += static_cast<size_t>(n);
    last_send_ = absl::Now();
  }
  if (out_pos_ == out_.size() || send_closed_) {
    out_.clear();
    out_pos_ = 0;
  } else if (out_pos_ > out_.size() / 2) {
    out_.erase(0, out_pos_);
    out_pos_ = 0;
  }
  return absl::OkStatus();
}

}  // namespace swarm::peer_svc
