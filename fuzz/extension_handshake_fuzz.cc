// libFuzzer target for bt::ParseExtensionHandshake, which reads the BEP 10 handshake any
// peer may send: whatever it accepts stays within the bounds it promises.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bt/extension_handshake.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<swarm::bt::ExtensionHandshake> h = swarm::bt::ParseExtensionHandshake(input);
  if (!h.ok()) return 0;
  if (h->reqq && (*h->reqq == 0 || *h->reqq > (1u << 20))) std::abort();
  if (h->listen_port && *h->listen_port == 0) std::abort();
  if (h->client.size() > 64 || h->extensions.size() > 64) std::abort();
  for (const auto& [name, id] : h->extensions) {
    if (name.empty() || name.size() > 64 || id == 0) std::abort();
  }
  return 0;
}
