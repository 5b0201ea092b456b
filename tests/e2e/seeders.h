// Real BitTorrent seeders for end-to-end tests: aria2c, transmission-cli and libtorrent
// (Debian's; libtorrent through tests/e2e/lt_peer.py), each
// bound to its own loopback address (127.0.0.x) and a free port, with DHT, LPD, PEX, uTP
// and port mapping off so that the test's tracker is their only source of peers
// (../shared/real-peers.md has why each setting matters on loopback).
//
//   SWARM_ASSIGN_OR_RETURN(auto seeder,
//       StartAria2Seeder({.torrent = t, .data_dir = d, .ip = "127.0.0.2"}));
#ifndef SWARM_TESTS_E2E_SEEDERS_H_
#define SWARM_TESTS_E2E_SEEDERS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "process/subprocess.h"

namespace swarm::testing {

struct SeederOptions {
  std::string torrent;   // path of the .torrent (libtorrent's leecher: or a magnet link)
  std::string data_dir;  // folder holding the content (as <data_dir>/<name>)
  std::string ip;        // loopback address to bind, e.g. "127.0.0.2"
  // Upload cap in bytes per second (0: none), to make a download last long enough to be
  // interrupted or to lose a worker on the way.
  uint64_t max_upload_bytes_per_s = 0;
  std::string work_dir;  // scratch folder for the client's own state
  // libtorrent only: a download cap (bytes per second, 0: none), and a peer ("ip:port") to
  // dial at once.
  uint64_t max_download_bytes_per_s = 0;
  std::string connect_to;
};

struct Seeder {
  std::unique_ptr<process::Subprocess> process;
  std::string ip;
  int port = 0;
};

absl::StatusOr<Seeder> StartAria2Seeder(const SeederOptions& options);
absl::StatusOr<Seeder> StartTransmissionSeeder(const SeederOptions& options);
absl::StatusOr<Seeder> StartLibtorrentSeeder(const SeederOptions& options);

// Leechers: the same clients downloading `torrent` into `data_dir`, bound to `ip`.
// aria2c exits 0 once the download is complete and checked. transmission-cli keeps running;
// its finish script creates <work_dir>/transmission-done when the torrent completes.
// libtorrent's exits 0 once complete, having printed "metadata" when it had the info
// dictionary (at once for a .torrent, from peers for a magnet link).
absl::StatusOr<Seeder> StartAria2Leecher(const SeederOptions& options);
absl::StatusOr<Seeder> StartTransmissionLeecher(const SeederOptions& options);
absl::StatusOr<Seeder> StartLibtorrentLeecher(const SeederOptions& options);

}  // namespace swarm::testing

#endif  // SWARM_TESTS_E2E_SEEDERS_H_
