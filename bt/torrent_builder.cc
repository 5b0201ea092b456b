#include "bt/torrent_builder.h"

#include "base/status_macros.h"
#include "bt/bencode.h"
#include "bt/metainfo.h"

namespace swarm::bt {

uint32_t DefaultPieceLength(uint64_t total_bytes) {
  uint32_t length = 16 * 1024;
  while (length < (16u << 20) && total_bytes / length > 2000) length *= 2;
  return length;
}

absl::StatusOr<std::string> BuildTorrent(const TorrentSpec& spec) {
  if (spec.files.empty()) return absl::InvalidArgumentError("a torrent needs at least one file");
  BValue::Dict info;
  info["name"] = spec.name;
  info["piece length"] = static_cast<int64_t>(spec.piece_length);
  info["pieces"] = spec.piece_hashes;
  if (spec.is_private) info["private"] = 1;
  if (spec.files.size() == 1 && spec.files[0].path.empty()) {
    info["length"] = static_cast<int64_t>(spec.files[0].length);
  } else {
    BValue::List files;
    for (const TorrentSpec::File& f : spec.files) {
      BValue::List path;
      for (const std::string& c : f.path) path.emplace_back(c);
      BValue::Dict entry;
      entry["length"] = static_cast<int64_t>(f.length);
      entry["path"] = std::move(path);
      files.emplace_back(std::move(entry));
    }
    info["files"] = std::move(files);
  }
  BValue::Dict root;
  root["info"] = std::move(info);
  if (!spec.trackers.empty() && !spec.trackers[0].empty()) {
    root["announce"] = spec.trackers[0][0];
    if (spec.trackers.size() > 1 || spec.trackers[0].size() > 1) {
      BValue::List tiers;
      for (const auto& tier : spec.trackers) {
        BValue::List urls;
        for (const std::string& url : tier) urls.emplace_back(url);
        tiers.emplace_back(std::move(urls));
      }
      root["announce-list"] = std::move(tiers);
    }
  }
  if (!spec.comment.empty()) root["comment"] = spec.comment;
  if (!spec.created_by.empty()) root["created by"] = spec.created_by;
  if (spec.creation_date) root["creation date"] = *spec.creation_date;
  std::string bytes = Encode(BValue(std::move(root)));
  SWARM_RETURN_IF_ERROR(ParseMetainfo(bytes).status());
  return bytes;
}

}  // namespace swarm::bt
