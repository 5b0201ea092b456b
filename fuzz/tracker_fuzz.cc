// libFuzzer target for every parser of untrusted tracker bytes in bt/tracker: HTTP announce and
// scrape bodies, UDP packets in both directions, tracker URLs. The first input byte picks the
// parser. Built and run by fuzz/fuzz.sh (target "tracker").
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "bt/tracker/announce.h"
#include "bt/tracker/http_response.h"
#include "bt/tracker/http_url.h"
#include "bt/tracker/tracker_url.h"
#include "bt/tracker/udp_packet.h"

namespace {

using namespace swarm::bt::tracker;  // NOLINT(build/namespaces): a fuzz driver

// Every peer a parser hands out must be dialable: a canonical address and a non-zero port.
void CheckPeers(const std::vector<Peer>& peers) {
  for (const Peer& p : peers) {
    absl::StatusOr<swarm::bt::Endpoint> again = swarm::bt::Endpoint::Parse(p.endpoint.ToString());
    if (!again.ok() || *again != p.endpoint || p.endpoint.port() == 0) std::abort();
    if (!p.peer_id.empty() && p.peer_id.size() != kHashSize) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<std::string> hashes = {std::string(20, 'a'), std::string(20, 'b')};
  switch (data[0] % 6) {
    case 0: {
      auto reply = ParseAnnounceResponse(input);
      if (reply.ok()) CheckPeers(reply->peers);
      break;
    }
    case 1: {
      auto counts = ParseScrapeResponse(input);
      if (counts.ok()) {
        for (const ScrapeCounts& c : *counts) {
          if (c.info_hash.size() != kHashSize) std::abort();
        }
      }
      break;
    }
    case 2: {
      for (IpFamily family : {IpFamily::kV4, IpFamily::kV6}) {
        auto reply = DecodeUdpAnnounceResponse(input, 0, family);
        if (reply.ok()) CheckPeers(reply->peers);
      }
      (void)DecodeUdpConnectResponse(input, 0);
      auto counts = DecodeUdpScrapeResponse(input, 0, hashes);
      if (counts.ok() && counts->size() > hashes.size()) std::abort();
      break;
    }
    case 3: {
      auto req = DecodeUdpRequest(input);
      if (req.ok() && req->action == UdpAction::kAnnounce) {
        auto again =
            EncodeUdpAnnounceRequest(req->connection_id, req->transaction_id, req->announce);
        if (!again.ok() || again->size() != kUdpAnnounceRequestSize) std::abort();
      }
      break;
    }
    case 4: {
      auto url = ParseTrackerUrl(input);
      if (url.ok() && url->scheme != TrackerScheme::kUdp) {
        AnnounceParams p;
        p.info_hash = std::string(20, '\0');
        p.peer_id = std::string(20, '\xff');
        if (!BuildAnnounceUrl(input, p).ok()) std::abort();
        (void)BuildScrapeUrl(input, hashes);
      }
      break;
    }
    case 5: {
      auto peers = DecodeCompactPeers(input, IpFamily::kV4);
      if (peers.ok()) CheckPeers(*peers);
      (void)SanitizeTrackerText(input, 64);
      break;
    }
  }
  return 0;
}
