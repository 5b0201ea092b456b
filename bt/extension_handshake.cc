#include "bt/extension_handshake.h"

#include <algorithm>

#include "bt/ut_metadata.h"

namespace swarm::bt {
namespace {

constexpr size_t kMaxClientBytes = 64;
constexpr size_t kMaxExtensions = 64;
constexpr size_t kMaxExtensionNameBytes = 64;
constexpr int64_t kMaxReqq = 1 << 20;

}  // namespace

absl::StatusOr<ExtensionHandshake> ParseExtensionHandshake(std::string_view payload) {
  absl::StatusOr<BDocument> doc = BDocument::Parse(payload, kExtensionHandshakeLimits);
  if (!doc.ok()) return doc.status();
  if (!doc->root().is_dict()) {
    return absl::InvalidArgumentError("extension handshake is not a dictionary");
  }
  ExtensionHandshake h;
  if (std::optional<BView> reqq = doc->root().Find("reqq"); reqq && reqq->is_int()) {
    if (reqq->int_value() > 0) {
      h.reqq = static_cast<uint32_t>(std::min(reqq->int_value(), kMaxReqq));
    }
  }
  if (std::optional<BView> p = doc->root().Find("p"); p && p->is_int()) {
    if (p->int_value() > 0 && p->int_value() <= 65535) {
      h.listen_port = static_cast<uint16_t>(p->int_value());
    }
  }
  if (std::optional<BView> size = doc->root().Find("metadata_size"); size && size->is_int()) {
    if (size->int_value() > 0 && size->int_value() <= kMaxMetadataSize) {
      h.metadata_size = static_cast<uint32_t>(size->int_value());
    }
  }
  if (std::optional<BView> v = doc->root().Find("v"); v && v->is_string()) {
    h.client = std::string(v->string_value().substr(0, kMaxClientBytes));
  }
  if (std::optional<BView> m = doc->root().Find("m"); m && m->is_dict()) {
    for (const auto& [name, id] : m->dict_items()) {
      if (h.extensions.size() >= kMaxExtensions) break;
      if (name.empty() || name.size() > kMaxExtensionNameBytes || !id.is_int()) continue;
      if (id.int_value() < 1 || id.int_value() > 255) continue;
      h.extensions[std::string(name)] = static_cast<uint8_t>(id.int_value());
    }
  }
  return h;
}

}  // namespace swarm::bt
