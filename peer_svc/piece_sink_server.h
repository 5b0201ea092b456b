// The writing side of the streaming mode: a worker that can see a job's output folder accepts
// the pieces that workers which cannot see it stream to it (proto/piece_sink.proto), and
// writes each through `write` (the job's ContentFiles) before it answers. Every worker runs
// one, on its listening address; the coordinator tells the others where (StartJob.sinks).
//
// A stream holds at most one piece at a time (the sender waits for each answer), of at most
// the size `piece_size` gives for it: memory is bounded by streams x one piece. A stream
// without the token, or whose chunks do not add up to the piece, is ended with an error.
//
//   SWARM_ASSIGN_OR_RETURN(auto sink, PieceSinkServer::Start({.listen = "10.0.0.2:0", ...}));
//   register.set_sink_address(absl::StrCat("10.0.0.2:", sink->port()));
#ifndef SWARM_PEER_SVC_PIECE_SINK_SERVER_H_
#define SWARM_PEER_SVC_PIECE_SINK_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "rpc/tls.h"

namespace swarm::peer_svc {

class PieceSinkServer {
 public:
  struct Options {
    // gRPC listen address ("ip:0" picks a port).
    std::string listen;
    // Required of every stream when not empty; required to listen beyond loopback.
    std::string auth_token;
    // TLS for the server (rpc/tls.h); empty: plaintext.
    rpc::TlsConfig tls;
    // The size of `piece` in job `job_id`; an error when the job is not here or the piece
    // is out of range (the stream's piece is refused).
    std::function<absl::StatusOr<uint32_t>(const std::string& job_id, uint32_t piece)> piece_size;
    // Writes a whole piece; its status is the answer.
    std::function<absl::Status(const std::string& job_id, uint32_t piece, std::string_view bytes)>
        write;
  };

  static absl::StatusOr<std::unique_ptr<PieceSinkServer>> Start(Options options);
  ~PieceSinkServer();  // Shutdown()

  int port() const { return port_; }
  // Ends every stream and stops; idempotent.
  void Shutdown();

 private:
  class Service;
  PieceSinkServer() = default;

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_PIECE_SINK_SERVER_H_
