// The sending side of the streaming mode: a worker that cannot see a job's output folder sends
// each piece it verified to another worker's PieceSink (proto/piece_sink.proto), which writes
// it. It runs on the job's PieceWriter thread in place of the local write, so the writer's
// bounded queue is the flow control: one piece in flight, the next sent only once the sink
// has written the last, and connections stop reading their peers while the queue is full.
//
// Sinks are tried in turn, starting from `first_sink`: a sink that answers with an error (it
// cannot see the folder either) or whose stream breaks is left for the next. Keepalive pings
// find a sink that vanished without closing its connection.
//
//   PieceStreamer streamer({.job_id = id, .sinks = {"10.0.0.2:7001"}, .auth_token = token});
//   SWARM_RETURN_IF_ERROR(streamer.Send(piece, bytes));   // written on the output host
#ifndef SWARM_PEER_SVC_PIECE_STREAMER_H_
#define SWARM_PEER_SVC_PIECE_STREAMER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "proto/piece_sink.grpc.pb.h"
#include "rpc/tls.h"

namespace swarm::peer_svc {

class PieceStreamer {
 public:
  struct Options {
    std::string job_id;
    // PieceSink addresses (host:port), in the order to try them.
    std::vector<std::string> sinks;
    size_t first_sink = 0;
    std::string auth_token;
    // TLS of the channels to the sinks (rpc/tls.h); empty: plaintext.
    rpc::TlsConfig tls;
    // Bytes of one PieceChunk's data: well under gRPC's 4 MiB message cap.
    size_t chunk_bytes = 1u << 20;
  };

  explicit PieceStreamer(Options options);
  ~PieceStreamer();  // Close()

  // Sends the piece and waits until a sink has written it. Not for two threads at once.
  absl::Status Send(uint32_t piece, std::string_view bytes);
  // Ends the stream (a Send waiting for its answer fails at once). Any thread.
  void Close();
  // The sink in use (or to be tried next).
  std::string sink() const;

 private:
  struct Stream {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReaderWriter<pb::PieceChunk, pb::PieceWritten>> rw;
  };

  // One attempt on the current sink.
  absl::Status SendOnce(uint32_t piece, std::string_view bytes);
  void DropStream();

  const Options options_;
  // Send's own (one thread): the channels, one per sink, made on first use.
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<pb::PieceSink::Stub>> stubs_;
  Stream stream_;
  mutable absl::Mutex mu_;
  size_t current_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // The open stream's context, for Close from another thread.
  grpc::ClientContext* open_context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PIECE_STREAMER_H_
