#include "bt/ut_pex.h"

#include "absl/strings/str_cat.h"
#include "bt/bencode.h"

namespace swarm::bt {
namespace {

// Four peer lists of 50 and their flags fit in a few KiB; a handful of keys.
constexpr DecodeLimits kPexLimits = [] {
  DecodeLimits l;
  l.max_depth = 2;
  l.max_tokens = 64;
  l.max_input_bytes = 8 * 1024;
  l.allow_unsorted_keys = true;
  return l;
}();

absl::Status ReadList(const BView& root, const char* key, bool v6, std::vector<Endpoint>* out) {
  const std::optional<BView> list = root.Find(key);
  if (!list) return absl::OkStatus();
  if (!list->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("ut_pex: \"", key, "\" is not a string"));
  }
  const std::string_view bytes = list->string_value();
  const size_t entry = v6 ? 18 : 6;
  if (bytes.size() % entry != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ut_pex: \"", key, "\" of ", bytes.size(), " bytes, not entries of ", entry));
  }
  size_t taken = 0;
  for (size_t at = 0; at < bytes.size() && taken < kMaxPexPeers; at += entry) {
    absl::StatusOr<IpAddress> ip = IpAddress::FromBytes(bytes.substr(at, entry - 2));
    const uint32_t port = (static_cast<uint8_t>(bytes[at + entry - 2]) << 8) |
                          static_cast<uint8_t>(bytes[at + entry - 1]);
    if (!ip.ok()) continue;
    absl::StatusOr<Endpoint> e = Endpoint::Make(*ip, port);
    if (!e.ok()) continue;  // port 0
    out->push_back(*std::move(e));
    ++taken;
  }
  return absl::OkStatus();
}

void AppendList(std::string* out, const char* key, absl::Span<const Endpoint> peers, bool v6) {
  std::string compact;
  size_t n = 0;
  for (const Endpoint& e : peers) {
    if (e.ip().is_v4() == v6 || n == kMaxPexPeers) continue;
    compact += e.ip().bytes();
    compact += static_cast<char>(e.port() >> 8);
    compact += static_cast<char>(e.port() & 0xff);
    ++n;
  }
  absl::StrAppend(out, std::string_view(key).size(), ":", key, compact.size(), ":", compact);
}

}  // namespace

absl::StatusOr<PexMessage> ParsePexMessage(std::string_view payload) {
  absl::StatusOr<BDocument> doc = BDocument::Parse(payload, kPexLimits);
  if (!doc.ok())
    return absl::InvalidArgumentError(absl::StrCat("ut_pex: ", doc.status().message()));
  if (!doc->root().is_dict()) return absl::InvalidArgumentError("ut_pex: not a dictionary");
  PexMessage m;
  const BView root = doc->root();
  if (absl::Status s = ReadList(root, "added", false, &m.added); !s.ok()) return s;
  if (absl::Status s = ReadList(root, "added6", true, &m.added); !s.ok()) return s;
  if (absl::Status s = ReadList(root, "dropped", false, &m.dropped); !s.ok()) return s;
  if (absl::Status s = ReadList(root, "dropped6", true, &m.dropped); !s.ok()) return s;
  return m;
}

std::string EncodePexMessage(absl::Span<const Endpoint> added, absl::Span<const Endpoint> dropped) {
  // Keys in bencode's order.
  std::string out = "d";
  AppendList(&out, "added", added, false);
  AppendList(&out, "added6", added, true);
  AppendList(&out, "dropped", dropped, false);
  AppendList(&out, "dropped6", dropped, true);
  out += "e";
  return out;
}

}  // namespace swarm::bt
