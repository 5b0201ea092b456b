#include "peer_svc/piece_sink_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "proto/piece_sink.grpc.pb.h"
#include "rpc/auth_token.h"
#include "rpc/token_source.h"

namespace swarm::peer_svc {

class PieceSinkServer::Service final : public pb::PieceSink::Service {
 public:
  explicit Service(Options options) : options_(std::move(options)) {}

  grpc::Status WritePieces(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<pb::PieceWritten, pb::PieceChunk>* stream) override {
    if (!rpc::AuthTokenMatches(*context, options_.auth_token)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "wrong auth token");
    }
    pb::PieceChunk chunk;
    std::string job_id;
    uint32_t piece = 0;
    uint32_t size = 0;
    std::string bytes;
    absl::Status refused;  // why the piece in progress will not be written
    while (stream->Read(&chunk)) {
      if (chunk.offset() == 0) {  // a new piece
        job_id = chunk.job_id();
        piece = chunk.piece();
        bytes.clear();
        absl::StatusOr<uint32_t> expected = options_.piece_size(job_id, piece);
        refused = expected.status();
        size = expected.value_or(0);
        if (refused.ok()) bytes.reserve(size);
      } else if (chunk.job_id() != job_id || chunk.piece() != piece ||
                 chunk.offset() != bytes.size()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "chunks out of order: each piece from offset 0, without gaps");
      }
      if (refused.ok()) {
        if (bytes.size() + chunk.data().size() > size) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              absl::StrCat("piece ", piece, " is longer than ", size, " bytes"));
        }
        bytes += chunk.data();
      }
      if (!chunk.last()) continue;
      if (refused.ok() && bytes.size() != size) {
        refused = absl::InvalidArgumentError(
            absl::StrCat("piece ", piece, " has ", bytes.size(), " bytes, not ", size));
      }
      if (refused.ok()) refused = options_.write(job_id, piece, bytes);
      pb::PieceWritten written;
      written.set_piece(piece);
      if (!refused.ok()) written.set_error(std::string(refused.message()));
      if (!stream->Write(written)) break;
      bytes.clear();
      bytes.shrink_to_fit();  // between pieces a stream holds nothing
    }
    return grpc::Status::OK;
  }

 private:
  const Options options_;
};

absl::StatusOr<std::unique_ptr<PieceSinkServer>> PieceSinkServer::Start(Options options) {
  SWARM_RETURN_IF_ERROR(rpc::RequireTokenBeyondLoopback(options.listen, options.auth_token));
  std::unique_ptr<PieceSinkServer> server(new PieceSinkServer());
  const std::string listen = options.listen;
  const std::shared_ptr<grpc::ServerCredentials> credentials = rpc::ServerCredentials(options.tls);
  server->service_ = std::make_unique<Service>(std::move(options));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve PieceSink on ", listen));
  }
  return server;
}

PieceSinkServer::~PieceSinkServer() { Shutdown(); }

void PieceSinkServer::Shutdown() {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  // Streams in flight end now: their senders try another sink.
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

}  // namespace swarm::peer_svc
