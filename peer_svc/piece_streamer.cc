#include "peer_svc/piece_streamer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rpc/auth_token.h"

namespace swarm::peer_svc {

PieceStreamer::PieceStreamer(Options options)
    : options_(std::move(options)),
      channels_(options_.sinks.size()),
      stubs_(options_.sinks.size()),
      current_(options_.sinks.empty() ? 0 : options_.first_sink % options_.sinks.size()) {}

PieceStreamer::~PieceStreamer() {
  Close();
  DropStream();
}

void PieceStreamer::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  if (open_context_ != nullptr) open_context_->TryCancel();
}

std::string PieceStreamer::sink() const {
  absl::MutexLock lock(&mu_);
  return options_.sinks.empty() ? "" : options_.sinks[current_];
}

void PieceStreamer::DropStream() {
  if (stream_.rw == nullptr) return;
  {
    absl::MutexLock lock(&mu_);
    open_context_ = nullptr;
  }
  stream_.context->TryCancel();
  stream_.rw->Finish().ok();
  stream_ = Stream();
}

absl::Status PieceStreamer::Send(uint32_t piece, std::string_view bytes) {
  if (options_.sinks.empty()) return absl::FailedPreconditionError("no worker to write pieces");
  absl::Status last;
  // Each sink once, starting with the current one.
  for (size_t tried = 0; tried < options_.sinks.size(); ++tried) {
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return absl::CancelledError("the job is stopping");
    }
    last = SendOnce(piece, bytes);
    if (last.ok()) return last;
    DropStream();
    absl::MutexLock lock(&mu_);
    current_ = (current_ + 1) % options_.sinks.size();
  }
  return absl::UnavailableError(
      absl::StrCat("no worker wrote piece ", piece, " for us: ", last.message()));
}

absl::Status PieceStreamer::SendOnce(uint32_t piece, std::string_view bytes) {
  size_t index;
  {
    absl::MutexLock lock(&mu_);
    index = current_;
  }
  const std::string& sink = options_.sinks[index];
  if (stream_.rw == nullptr) {
    if (stubs_[index] == nullptr) {
      grpc::ChannelArguments args;
      // A sink whose host vanished (no FIN, no RST) is noticed within about 20 s.
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      channels_[index] = rpc::MakeChannel(sink, options_.tls, args);
      stubs_[index] = pb::PieceSink::NewStub(channels_[index]);
    }
    stream_.context = std::make_unique<grpc::ClientContext>();
    rpc::AttachAuthToken(options_.auth_token, stream_.context.get());
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return absl::CancelledError("the job is stopping");
      open_context_ = stream_.context.get();
    }
    stream_.rw = stubs_[index]->WritePieces(stream_.context.get());
  }
  pb::PieceChunk chunk;
  chunk.set_job_id(options_.job_id);
  chunk.set_piece(piece);
  size_t offset = 0;
  do {
    const size_t n = std::min(options_.chunk_bytes, bytes.size() - offset);
    chunk.set_offset(offset);
    chunk.set_data(bytes.data() + offset, n);
    offset += n;
    chunk.set_last(offset == bytes.size());
    if (!stream_.rw->Write(chunk)) {
      return absl::UnavailableError(absl::StrCat("the stream to ", sink, " broke"));
    }
  } while (offset < bytes.size());
  pb::PieceWritten written;
  if (!stream_.rw->Read(&written)) {
    return absl::UnavailableError(absl::StrCat("the stream to ", sink, " broke"));
  }
  if (written.piece() != piece) {
    return absl::DataLossError(
        absl::StrCat(sink, " answered for piece ", written.piece(), ", not ", piece));
  }
  if (!written.error().empty()) {
    return absl::UnavailableError(absl::StrCat(sink, ": ", written.error()));
  }
  return absl::OkStatus();
}

}  // namespace swarm::peer_svc
