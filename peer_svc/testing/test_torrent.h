// Test data for peer_svc: pseudo-random content and a single-file torrent describing it.
//
//   TestTorrent t = MakeTestTorrent("data.bin", 300'000, 32 * 1024);
//   FakeSeeder seeder(t, FakeSeeder::Options());
//   t.metainfo.piece_hash(0) ...   // t.torrent holds the .torrent bytes
#ifndef SWARM_PEER_SVC_TESTING_TEST_TORRENT_H_
#define SWARM_PEER_SVC_TESTING_TEST_TORRENT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "bt/metainfo.h"

namespace swarm::peer_svc::testing {

struct TestTorrent {
  std::string content;  // the file's bytes
  std::string torrent;  // the .torrent file's bytes
  bt::Metainfo metainfo;
};

// Deterministic for a given seed. piece_length must be a multiple of 16 KiB or any size;
// `size` need not be a multiple of it (the last piece is short).
TestTorrent MakeTestTorrent(const std::string& name, size_t size, uint32_t piece_length,
                            uint32_t seed = 1);

}  // namespace swarm::peer_svc::testing

#endif  // SWARM_PEER_SVC_TESTING_TEST_TORRENT_H_
