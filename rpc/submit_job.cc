#include "rpc/submit_job.h"

#include <memory>
#include <string>
#include <string_view>

namespace swarm::rpc {

grpc::Status SubmitJob(pb::Coordinator::StubInterface& stub, grpc::ClientContext* context,
                       const pb::SubmitJobRequest& request, pb::SubmitJobResponse* response) {
  std::unique_ptr<grpc::ClientWriterInterface<pb::SubmitJobRequest>> writer =
      stub.SubmitJob(context, response);
  std::string_view torrent = request.torrent();
  pb::SubmitJobRequest part = request;
  do {
    const std::string_view chunk = torrent.substr(0, kSubmitJobPartBytes);
    torrent.remove_prefix(chunk.size());
    part.set_torrent(std::string(chunk));
    // A failed write means the server has ended the call (a wrong token, say): Finish says why.
    if (!writer->Write(part)) break;
    part.Clear();
  } while (!torrent.empty());
  writer->WritesDone();
  return writer->Finish();
}

}  // namespace swarm::rpc
