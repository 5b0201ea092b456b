#include "bt/peer_id.h"

#include "absl/random/random.h"

namespace swarm::bt {

std::string NewPeerId() {
  static constexpr char kChars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  absl::BitGen gen;
  std::string id(kPeerIdPrefix);
  while (id.size() < 20) id.push_back(kChars[absl::Uniform<size_t>(gen, 0, sizeof(kChars) - 1)]);
  return id;
}

}  // namespace swarm::bt
