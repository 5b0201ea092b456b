// A magnet link's job on a worker before its torrent is known (the coordinator's
// FetchMetadata): a MetadataFetcher fed with the peers the coordinator hands out (AddPeers,
// asked for with RequestWork), each peer it is done with reported (PeerClosed), and the
// verified info dictionary sent in parts (MetadataFound). StopJob ends it; the job's
// ordinary StartJob follows once the coordinator has made the torrent.
//
//   MetadataJob job(options, [&](pb::WorkerMessage m) { Send(std::move(m)); });
//   job.Start();                  // asks for peers
//   job.AddPeers(m.add_peers());
//   job.Stop();
#ifndef SWARM_PEER_SVC_METADATA_JOB_H_
#define SWARM_PEER_SVC_METADATA_JOB_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "bt/sha1.h"
#include "peer_svc/metadata_fetcher.h"
#include "proto/coordinator.grpc.pb.h"

namespace swarm::peer_svc {

class MetadataJob {
 public:
  struct Options {
    std::string job_id;
    // The fetcher's; max_peers is also how many peers are asked for at a time.
    MetadataFetcher::Options fetcher;
  };
  // `send` is called from the fetcher's threads and from AddPeers' caller.
  MetadataJob(Options options, std::function<void(pb::WorkerMessage)> send);
  ~MetadataJob();  // Stop()

  // Asks the coordinator for peers.
  void Start();
  void AddPeers(const pb::AddPeers& add);
  bool done() const { return fetcher_.done(); }
  void Stop();

 private:
  void AskForPeers();
  void OnDone(std::string info_dict);
  void OnPeerEnded(const bt::Endpoint& peer, const absl::Status& why, bool banned);

  const Options options_;
  const std::function<void(pb::WorkerMessage)> send_;
  MetadataFetcher fetcher_;  // last: its threads call the members above
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_METADATA_JOB_H_
