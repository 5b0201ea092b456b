#include "cli/inspect.h"

#include <cstdio>
#include <ctime>
#include <iostream>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bt/magnet.h"
#include "cli/args.h"
#include "cli/json_writer.h"
#include "cli/read_file.h"
#include "cli/terminal_text.h"

namespace swarm::cli {
namespace {

constexpr const char* kUsage =
    "usage: swarm-cli inspect FILE.torrent|MAGNET-LINK [--json]\n"
    "Shows a torrent's name, info-hash, size, pieces, files, trackers and magnet link; or\n"
    "what a magnet link names.\n\n"
    "  --json       one JSON object instead of text\n"
    "  -h, --help   this text\n";

std::string HumanSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, " B");
  return absl::StrFormat("%.2f %s", v, kUnits[unit]);
}

std::string FormatDate(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (gmtime_r(&tt, &tm) == nullptr) return absl::StrCat(t);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

std::string FormatInspectText(const bt::Metainfo& m) {
  std::string out;
  absl::StrAppend(&out, "name:         ", TerminalSafe(m.name), "\n");
  absl::StrAppend(&out, "info-hash:    ", bt::ToHex(m.info_hash), "\n");
  absl::StrAppend(&out, "magnet:       ", TerminalSafe(bt::ToMagnet(bt::MagnetFor(m))), "\n");
  absl::StrAppend(&out, "total size:   ", HumanSize(m.total_length), " (", m.total_length,
                  " bytes)\n");
  absl::StrAppend(&out, "pieces:       ", m.num_pieces(), " x ", HumanSize(m.piece_length),
                  "\n");
  absl::StrAppend(&out, "private:      ", m.is_private ? "yes" : "no", "\n");
  if (m.creation_date) absl::StrAppend(&out, "created:      ", FormatDate(*m.creation_date), "\n");
  if (!m.created_by.empty())
    absl::StrAppend(&out, "created by:   ", TerminalSafe(m.created_by), "\n");
  if (!m.comment.empty()) absl::StrAppend(&out, "comment:      ", TerminalSafe(m.comment), "\n");
  absl::StrAppend(&out, "files (", m.files.size(), "):\n");
  for (const bt::FileEntry& f : m.files) {
    absl::StrAppend(&out, absl::StrFormat("  %12s  ", HumanSize(f.length)),
                    TerminalSafe(f.RelativePath()), f.pad ? "  (padding)" : "", "\n");
  }
  absl::StrAppend(&out, "trackers (", m.trackers.size(), " tiers):\n");
  for (size_t t = 0; t < m.trackers.size(); ++t) {
    for (const std::string& url : m.trackers[t]) {
      absl::StrAppend(&out, "  tier ", t + 1, ": ", TerminalSafe(url), "\n");
    }
  }
  return out;
}

std::string FormatInspectJson(const bt::Metainfo& m) {
  std::vector<std::string> fields = {
      JsonField("name", m.name),
      JsonField("info_hash", bt::ToHex(m.info_hash)),
      JsonField("magnet", bt::ToMagnet(bt::MagnetFor(m))),
      JsonField("total_size", m.total_length),
      JsonField("piece_length", uint64_t{m.piece_length}),
      JsonField("piece_count", uint64_t{m.num_pieces()}),
      JsonField("private", m.is_private),
      JsonField("multi_file", m.multi_file),
      JsonField("comment", m.comment),
      JsonField("created_by", m.created_by),
  };
  if (m.creation_date && *m.creation_date >= 0) {
    fields.push_back(JsonField("creation_date", static_cast<uint64_t>(*m.creation_date)));
  }
  std::vector<std::string> files;
  for (const bt::FileEntry& f : m.files) {
    files.push_back(absl::StrCat("{", JsonField("path", f.RelativePath()), ",",
                                 JsonField("size", f.length), ",", JsonField("padding", f.pad),
                                 "}"));
  }
  fields.push_back(absl::StrCat("\"files\":[", absl::StrJoin(files, ","), "]"));
  std::vector<std::string> tiers;
  for (const auto& tier : m.trackers) {
    std::vector<std::string> urls;
    for (const std::string& url : tier) urls.push_back(JsonString(url));
    tiers.push_back(absl::StrCat("[", absl::StrJoin(urls, ","), "]"));
  }
  fields.push_back(absl::StrCat("\"trackers\":[", absl::StrJoin(tiers, ","), "]"));
  return absl::StrCat("{", absl::StrJoin(fields, ","), "}\n");
}

std::string FormatMagnetText(const bt::MagnetLink& link) {
  std::string out;
  absl::StrAppend(&out, "magnet link (the torrent's metadata comes from peers)\n");
  absl::StrAppend(&out, "name:         ", TerminalSafe(link.name), "\n");
  absl::StrAppend(&out, "info-hash:    ", bt::ToHex(link.info_hash), "\n");
  absl::StrAppend(&out, "trackers (", link.trackers.size(), "):\n");
  for (const std::string& url : link.trackers) absl::StrAppend(&out, "  ", TerminalSafe(url), "\n");
  absl::StrAppend(&out, "peers (", link.peers.size(), "):\n");
  for (const bt::Endpoint& peer : link.peers) absl::StrAppend(&out, "  ", peer.ToString(), "\n");
  return out;
}

std::string FormatMagnetJson(const bt::MagnetLink& link) {
  std::vector<std::string> trackers, peers;
  for (const std::string& url : link.trackers) trackers.push_back(JsonString(url));
  for (const bt::Endpoint& peer : link.peers) peers.push_back(JsonString(peer.ToString()));
  return absl::StrCat("{", JsonField("name", link.name), ",",
                      JsonField("info_hash", bt::ToHex(link.info_hash)), ",\"trackers\":[",
                      absl::StrJoin(trackers, ","), "],\"peers\":[", absl::StrJoin(peers, ","),
                      "]}\n");
}

int RunInspect(int argc, char** argv) {
  bool json = false;
  std::string path;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (IsHelpFlag(std::string(arg))) {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--json") {
      json = true;
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "swarm-cli inspect: unknown option " << arg << "\n";
      return 64;
    } else if (path.empty()) {
      path = std::string(arg);
    } else {
      std::cerr << "swarm-cli inspect: one torrent file at a time\n";
      return 64;
    }
  }
  if (path.empty()) {
    std::cerr << kUsage;
    return 64;
  }
  if (bt::IsMagnet(path)) {
    absl::StatusOr<bt::MagnetLink> link = bt::ParseMagnet(path);
    if (!link.ok()) {
      std::cerr << "swarm-cli: " << TerminalSafe(std::string(link.status().message())) << "\n";
      return 2;
    }
    std::cout << (json ? FormatMagnetJson(*link) : FormatMagnetText(*link));
    return 0;
  }
  absl::StatusOr<std::string> bytes = ReadFileCapped(path, bt::MetainfoLimits().max_file_bytes);
  if (!bytes.ok()) {
    std::cerr << "swarm-cli: " << bytes.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<bt::Metainfo> m = bt::ParseMetainfo(*bytes);
  if (!m.ok()) {
    std::cerr << "swarm-cli: " << path << ": " << m.status().message() << "\n";
    return 2;
  }
  std::cout << (json ? FormatInspectJson(*m) : FormatInspectText(*m));
  return 0;
}

}  // namespace swarm::cli
