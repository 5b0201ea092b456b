// libFuzzer target for bt::IpAddress and bt::Endpoint, which parse addresses from trackers,
// workers and gRPC peers: whatever parses must print back to a text that parses to the same
// value (the key the services share), and the bytes form must agree with the text form.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bt/endpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<swarm::bt::Endpoint> e = swarm::bt::Endpoint::Parse(input);
  if (e.ok()) {
    absl::StatusOr<swarm::bt::Endpoint> again = swarm::bt::Endpoint::Parse(e->ToString());
    if (!again.ok() || *again != *e || again->ToString() != e->ToString()) std::abort();
  }
  absl::StatusOr<swarm::bt::IpAddress> ip = swarm::bt::IpAddress::Parse(input);
  if (ip.ok()) {
    absl::StatusOr<swarm::bt::IpAddress> from_bytes = swarm::bt::IpAddress::FromBytes(ip->bytes());
    if (!from_bytes.ok() || *from_bytes != *ip || from_bytes->ToString() != ip->ToString()) {
      std::abort();
    }
  }
  absl::StatusOr<swarm::bt::IpAddress> raw = swarm::bt::IpAddress::FromBytes(input);
  if (raw.ok()) {
    absl::StatusOr<swarm::bt::IpAddress> parsed = swarm::bt::IpAddress::Parse(raw->ToString());
    if (!parsed.ok() || *parsed != *raw) std::abort();
  }
  return 0;
}
