// libFuzzer target for bt::ParseMagnet, which reads whatever link a user pastes or a web page
// hands over: whatever it accepts stays within its limits and writes back to the same link.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bt/magnet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swarm::bt;  // NOLINT
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<MagnetLink> link = ParseMagnet(input);
  if (!link.ok()) return 0;
  if (link->trackers.size() > kMaxMagnetTrackers || link->peers.size() > kMaxMagnetPeers ||
      link->name.size() > kMaxMagnetNameBytes) {
    std::abort();
  }
  absl::StatusOr<MagnetLink> again = ParseMagnet(ToMagnet(*link));
  if (!again.ok() || again->info_hash != link->info_hash || again->name != link->name ||
      again->trackers != link->trackers || again->peers != link->peers) {
    std::abort();
  }
  return 0;
}
