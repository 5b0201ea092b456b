// libFuzzer target: the bencode decoder on arbitrary bytes. Whatever decodes must re-encode
// to the same bytes (strict BEP 3 has exactly one encoding per value), and every raw span
// must lie inside the input.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bt/bencode.h"

namespace {

void Walk(const swarm::bt::BView& v, std::string_view input, int depth) {
  std::string_view raw = v.raw();
  if (raw.data() < input.data() || raw.data() + raw.size() > input.data() + input.size()) {
    std::abort();
  }
  if (depth > 200) std::abort();
  for (const auto& [key, value] : v.dict_items()) {
    if (v.Find(key).has_value() == false) std::abort();
    Walk(value, input, depth + 1);
  }
  if (v.is_list()) {
    for (const swarm::bt::BView& item : v.items()) Walk(item, input, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  swarm::bt::DecodeLimits limits;
  limits.max_depth = 50;
  auto doc = swarm::bt::BDocument::Parse(input, limits);
  if (!doc.ok()) return 0;
  const swarm::bt::BView root = doc->root();
  if (root.raw().size() != size) std::abort();
  // Walk against the document's own copy of the input.
  const std::string_view own = root.raw();
  Walk(root, own, 0);
  if (swarm::bt::Encode(swarm::bt::BValue::From(root)) != input) std::abort();
  return 0;
}
