// Minimal JSON output for the CLI's --json modes: strings escaped per RFC 8259, invalid
// UTF-8 (torrent names are raw bytes) replaced by U+FFFD so the output always parses.
//
//   std::string out = "{" + JsonField("name", m.name) + "," + JsonField("size", n) + "}";
#ifndef SWARM_CLI_JSON_WRITER_H_
#define SWARM_CLI_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace swarm::cli {

// A JSON string literal, quotes included.
std::string JsonString(std::string_view bytes);

inline std::string JsonField(std::string_view key, std::string_view value) {
  return JsonString(key) + ":" + JsonString(value);
}
inline std::string JsonField(std::string_view key, const char* value) {
  return JsonField(key, std::string_view(value));
}
inline std::string JsonField(std::string_view key, uint64_t value) {
  return JsonString(key) + ":" + std::to_string(value);
}
inline std::string JsonField(std::string_view key, bool value) {
  return JsonString(key) + ":" + (value ? "true" : "false");
}

}  // namespace swarm::cli

#endif  // SWARM_CLI_JSON_WRITER_H_
