// SHA-1 for info-hashes and piece verification: the only place bt/ touches OpenSSL.
//
//   bt::Sha1Digest digest = bt::Sha1(piece_bytes);
//   bt::Sha1Hasher hasher;  // incremental, for data that arrives in blocks
//   hasher.Update(block0); hasher.Update(block1);
//   if (hasher.Finish() == expected) ...
#ifndef SWARM_BT_SHA1_H_
#define SWARM_BT_SHA1_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace swarm::bt {

using Sha1Digest = std::array<uint8_t, 20>;

Sha1Digest Sha1(std::string_view data);

// Lower-case hex of a digest (40 characters).
std::string ToHex(const Sha1Digest& digest);
// The digest as 20 raw bytes.
inline std::string_view AsBytes(const Sha1Digest& digest) {
  return std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size());
}

class Sha1Hasher {
 public:
  Sha1Hasher();
  ~Sha1Hasher();
  Sha1Hasher(const Sha1Hasher&) = delete;
  Sha1Hasher& operator=(const Sha1Hasher&) = delete;

  void Update(std::string_view data);
  // Returns the digest and resets the hasher for the next message.
  Sha1Digest Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace swarm::bt

#endif  // SWARM_BT_SHA1_H_
