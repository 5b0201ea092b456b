#include "peer_svc/testing/test_torrent.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "bt/bencode.h"
#include "bt/sha1.h"

namespace swarm::peer_svc::testing {

TestTorrent MakeTestTorrent(const std::string& name, size_t size, uint32_t piece_length,
                            uint32_t seed) {
  TestTorrent t;
  // xorshift64, 8 bytes per step: fast enough for the benchmark's hundreds of MiB.
  uint64_t x = 0x9E3779B97F4A7C15ull * (seed + 1);
  t.content.resize(size);
  for (size_t i = 0; i < size; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(&t.content[i], &x, std::min<size_t>(8, size - i));
  }
  std::string hashes;
  for (size_t off = 0; off < size; off += piece_length) {
    hashes +=
        std::string(bt::AsBytes(bt::Sha1(std::string_view(t.content).substr(off, piece_length))));
  }
  bt::BValue::Dict info;
  info["length"] = static_cast<int64_t>(size);
  info["name"] = name;
  info["piece length"] = static_cast<int64_t>(piece_length);
  info["pieces"] = std::move(hashes);
  bt::BValue::Dict root;
  root["announce"] = "http://127.0.0.1:1/announce";
  root["info"] = std::move(info);
  t.torrent = bt::Encode(bt::BValue(std::move(root)));
  // The bytes were built right here: a parse failure is a bug in this helper.
  t.metainfo = *bt::ParseMetainfo(t.torrent);
  return t;
}

}  // namespace swarm::peer_svc::testing
