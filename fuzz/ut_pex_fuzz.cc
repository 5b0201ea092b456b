// libFuzzer target for bt::ParsePexMessage, which reads the peer lists any peer may send
// under ut_pex: whatever it accepts stays within its limits and writes back to the same peers.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bt/ut_pex.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swarm::bt;  // NOLINT
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<PexMessage> m = ParsePexMessage(input);
  if (!m.ok()) return 0;
  if (m->added.size() > 2 * kMaxPexPeers || m->dropped.size() > 2 * kMaxPexPeers) std::abort();
  for (const Endpoint& e : m->added) {
    if (e.port() == 0) std::abort();
  }
  absl::StatusOr<PexMessage> again = ParsePexMessage(EncodePexMessage(m->added, m->dropped));
  if (!again.ok() || again->added.size() != m->added.size() ||
      again->dropped.size() != m->dropped.size()) {
    std::abort();
  }
  return 0;
}
