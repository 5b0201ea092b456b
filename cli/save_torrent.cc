#include "cli/save_torrent.h"

#include <chrono>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "bt/metainfo.h"
#include "rpc/auth_token.h"
#include "rpc/grpc_status.h"

namespace swarm::cli {

absl::Status SaveTorrent(pb::Coordinator::StubInterface& stub, const std::string& token,
                         const std::string& job_id, const std::string& path) {
  const uint64_t max = bt::MetainfoLimits().max_file_bytes;
  std::string torrent;
  for (;;) {
    grpc::ClientContext context;
    rpc::AttachAuthToken(token, &context);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    pb::FetchTorrentRequest request;
    request.set_job_id(job_id);
    request.set_offset(torrent.size());
    pb::FetchTorrentResponse response;
    const absl::Status status =
        rpc::FromGrpcStatus(stub.FetchTorrent(&context, request, &response));
    if (!status.ok()) return status;
    if (response.total_size() > max) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the torrent has ", response.total_size(), " bytes, over ", max));
    }
    torrent += response.data();
    if (torrent.size() >= response.total_size() || response.data().empty()) break;
  }
  // Checked before it lands where a user will open it.
  if (absl::Status parsed = bt::ParseMetainfo(torrent).status(); !parsed.ok()) return parsed;
  const std::string temporary = path + ".part";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << torrent;
    out.close();
    if (!out) {
      std::remove(temporary.c_str());
      return absl::UnavailableError(absl::StrCat("cannot write ", temporary));
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename ", temporary, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace swarm::cli
