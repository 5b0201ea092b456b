// Fetches a torrent's info dictionary from peers under ut_metadata (BEP 9, over BEP 10), for a
// job that started from a magnet link and so has only the info-hash. Up to `max_peers`
// connections at once; each assembles a copy of its own from its peer (a few 16 KiB pieces
// in flight), checked against the info-hash (bt::MetadataAssembler), and the first whole,
// verified copy wins. Pieces of several peers are never mixed: a dictionary that is not the
// torrent's is its one sender's doing, and that peer alone is banned. A peer announcing a
// size over bt::kMaxMetadataSize, a reject, a silence or a malformed message ends that peer
// only. (Dictionaries are small: most under 100 KiB, so one peer sends one quickly.)
//
// These connections do nothing but fetch the metadata (no bitfield, no pieces): once the
// torrent is known, the job's ordinary connections take over. Memory: at most max_peers
// copies in the making.
//
//   MetadataFetcher fetcher(options,
//       [&](std::string info) { /* bt::Sha1(info) == info_hash */ },
//       [&](const bt::Endpoint& peer, const absl::Status& why, bool banned) { ... });
//   fetcher.AddPeer(*bt::Endpoint::Parse("10.0.0.1:6881"));
#ifndef SWARM_PEER_SVC_METADATA_FETCHER_H_
#define SWARM_PEER_SVC_METADATA_FETCHER_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bt/endpoint.h"
#include "bt/sha1.h"
#include "bt/ut_metadata.h"

namespace swarm::peer_svc {

class MetadataFetcher {
 public:
  struct Options {
    bt::Sha1Digest info_hash{};
    std::array<uint8_t, 20> peer_id{};
    // Source address to connect from (empty: the system's choice).
    std::string bind_ip;
    // Our listen port, told in the extension handshake (0: not told).
    uint16_t listen_port = 0;
    int max_peers = 4;
    absl::Duration connect_timeout = absl::Seconds(10);
    // From connected to the peer's extension handshake.
    absl::Duration handshake_timeout = absl::Seconds(20);
    // A piece asked for and not answered in this long: the peer is dropped.
    absl::Duration piece_timeout = absl::Seconds(20);
  };
  // The verified info dictionary; called once, on a fetcher thread.
  using Done = std::function<void(std::string info_dict)>;
  // A peer the fetcher is done with, and why (OK: the dictionary is complete); `banned` when
  // it sent a dictionary that is not the info-hash's or broke the protocol. On a fetcher
  // thread, in no particular order with Done.
  using PeerEnded =
      std::function<void(const bt::Endpoint& peer, const absl::Status& why, bool banned)>;

  MetadataFetcher(Options options, Done done, PeerEnded ended);
  ~MetadataFetcher();  // Stop()

  // Queues a peer to dial; false (and nothing done) when the dictionary is complete, the
  // fetcher stopped, the peer's address banned, or the peer queued or connected already. A
  // peer whose connection ended may be added again.
  bool AddPeer(const bt::Endpoint& peer);
  bool done() const;
  // Peers queued or connected.
  size_t peers() const;
  // Ends every connection and joins the threads; nothing is called after it returns. Not
  // from a callback, nor holding what the callbacks take.
  void Stop();

 private:
  class Peer;

  void RunThread();
  // Fetches from one peer until it has sent the whole dictionary (or another peer has).
  absl::Status FetchFrom(Peer& peer, uint64_t serial);

  const Options options_;
  const Done done_callback_;
  const PeerEnded ended_callback_;

  mutable absl::Mutex mu_;
  std::deque<bt::Endpoint> queue_ ABSL_GUARDED_BY(mu_);
  // Peers queued or connected ("ip:port").
  absl::flat_hash_set<std::string> seen_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> banned_ips_ ABSL_GUARDED_BY(mu_);
  // Connections by serial, from dialling on: their peer, and their socket (-1 before there
  // is one; shut down to stop them).
  absl::flat_hash_map<uint64_t, std::pair<bt::Endpoint, int>> connected_ ABSL_GUARDED_BY(mu_);
  uint64_t next_serial_ ABSL_GUARDED_BY(mu_) = 1;
  int idle_threads_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace swarm::peer_svc

#endif  // SWARM_PEER_SVC_METADATA_FETCHER_H_
