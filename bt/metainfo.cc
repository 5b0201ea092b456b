#include "bt/metainfo.h"

#include <set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/absl_view.h"
#include "base/status_macros.h"
#include "bt/bencode.h"

namespace swarm::bt {
namespace {

using ::swarm::Absl;

absl::Status Invalid(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("metainfo: ", Absl(what)));
}

// Quoted, escaped text of untrusted bytes for an error message.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string escaped = absl::CHexEscape(Absl(s.substr(0, kMax)));
  return absl::StrCat("\"", escaped, s.size() > kMax ? "...\"" : "\"");
}

absl::StatusOr<BView> Require(const BView& dict, std::string_view key, BType type,
                              std::string_view where) {
  std::optional<BView> v = dict.Find(key);
  if (!v) return Invalid(absl::StrCat(Absl(where), " has no \"", Absl(key), "\""));
  if (v->type() != type) {
    static constexpr const char* kNames[] = {"an integer", "a string", "a list", "a dictionary"};
    return Invalid(absl::StrCat(Absl(where), " \"", Absl(key), "\" is not ",
                                kNames[static_cast<int>(type)]));
  }
  return *v;
}

std::vector<std::vector<std::string>> ParseTrackers(const BView& root) {
  std::vector<std::vector<std::string>> tiers;
  // BEP 12: a client that understands announce-list uses it and ignores announce. Malformed
  // entries are skipped rather than fatal: trackers are hints, the content is what matters.
  if (std::optional<BView> list = root.Find("announce-list"); list && list->is_list()) {
    std::set<std::string> seen;
    for (const BView& tier_view : list->items()) {
      std::vector<std::string> tier;
      for (const BView& url : tier_view.items()) {
        if (!url.is_string() || url.string_value().empty()) continue;
        if (seen.insert(std::string(url.string_value())).second) {
          tier.emplace_back(url.string_value());
        }
      }
      if (!tier.empty()) tiers.push_back(std::move(tier));
    }
  }
  if (tiers.empty()) {
    if (std::optional<BView> a = root.Find("announce");
        a && a->is_string() && !a->string_value().empty()) {
      tiers.push_back({std::string(a->string_value())});
    }
  }
  return tiers;
}

absl::StatusOr<std::vector<std::string>> ParsePath(const BView& path_view, size_t file_index,
                                                   const MetainfoLimits& limits) {
  const std::string where = absl::StrCat("file ", file_index);
  if (!path_view.is_list()) return Invalid(absl::StrCat(where, " \"path\" is not a list"));
  std::vector<BView> parts = path_view.items();
  if (parts.empty()) return Invalid(absl::StrCat(where, " has an empty path"));
  if (parts.size() > limits.max_path_components) {
    return Invalid(absl::StrCat(where, " path has more than ", limits.max_path_components,
                                " components"));
  }
  std::vector<std::string> out;
  for (size_t j = 0; j < parts.size(); ++j) {
    if (!parts[j].is_string()) {
      return Invalid(absl::StrCat(where, " path component ", j, " is not a string"));
    }
    absl::Status s = ValidatePathComponent(parts[j].string_value(), limits.max_component_bytes);
    if (!s.ok()) {
      return Invalid(absl::StrCat(where, " path component ", j, " ",
                                  Quote(parts[j].string_value()), ": ", s.message()));
    }
    out.emplace_back(parts[j].string_value());
  }
  return out;
}

absl::Status ParseFiles(const BView& info, const MetainfoLimits& limits, Metainfo* m) {
  std::optional<BView> length = info.Find("length");
  std::optional<BView> files = info.Find("files");
  if (length && files) return Invalid("info has both \"length\" and \"files\"");
  if (!length && !files) {
    if (info.Find("meta version") && info.Find("file tree")) {
      return Invalid("v2-only torrents (BEP 52) are not supported");
    }
    return Invalid("info has neither \"length\" nor \"files\"");
  }
  if (length) {
    if (!length->is_int() || length->int_value() < 0) {
      return Invalid("info \"length\" is not a non-negative integer");
    }
    m->multi_file = false;
    m->files.push_back(FileEntry{{m->name}, static_cast<uint64_t>(length->int_value()), 0});
    m->total_length = m->files[0].length;
    return absl::OkStatus();
  }
  if (!files->is_list()) return Invalid("info \"files\" is not a list");
  std::vector<BView> entries = files->items();
  if (entries.empty()) return Invalid("info \"files\" is empty");
  if (entries.size() > limits.max_files) {
    return Invalid(absl::StrCat("more than ", limits.max_files, " files"));
  }
  m->multi_file = true;
  // The tree of every path, to reject two files at one path or a file where another needs a
  // directory: each folder or file is a node, found by (parent node, name); node 0 is the
  // top. Memory follows the bytes of the names, not their square (keeping every folder's
  // full path would cost gigabytes for a few thousand files with 64 long components each).
  absl::flat_hash_map<std::pair<uint32_t, std::string>, uint32_t> child;
  std::vector<bool> is_file = {false};
  uint64_t offset = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string where = absl::StrCat("file ", i);
    if (!entries[i].is_dict()) return Invalid(absl::StrCat(where, " is not a dictionary"));
    SWARM_ASSIGN_OR_RETURN(BView len, Require(entries[i], "length", BType::kInt, where));
    if (len.int_value() < 0) return Invalid(absl::StrCat(where, " has a negative length"));
    std::optional<BView> path_view = entries[i].Find("path");
    if (!path_view) return Invalid(absl::StrCat(where, " has no \"path\""));
    SWARM_ASSIGN_OR_RETURN(std::vector<std::string> path, ParsePath(*path_view, i, limits));

    FileEntry entry;
    entry.path.push_back(m->name);
    entry.path.insert(entry.path.end(), path.begin(), path.end());
    entry.length = static_cast<uint64_t>(len.int_value());
    if (entry.length > (uint64_t{1} << 62) - offset) {
      return Invalid("total length of the files overflows");
    }
    entry.offset = offset;
    offset += entry.length;
    if (std::optional<BView> attr = entries[i].Find("attr"); attr && attr->is_string()) {
      entry.pad = attr->string_value().find('p') != std::string_view::npos;
    }

    uint32_t node = 0;
    for (size_t j = 0; j < path.size(); ++j) {
      const bool last = j + 1 == path.size();
      const auto [it, added] =
          child.try_emplace({node, path[j]}, static_cast<uint32_t>(is_file.size()));
      node = it->second;
      if (added) {
        is_file.push_back(last);
        continue;
      }
      const std::string full = absl::StrJoin(path, "/");
      if (last) return Invalid(absl::StrCat(where, " path ", Quote(full), " is used twice"));
      if (is_file[node]) {
        const std::string prefix = absl::StrJoin(path.begin(), path.begin() + j + 1, "/");
        return Invalid(absl::StrCat(where, " path ", Quote(full), " runs through file ",
                                    Quote(prefix)));
      }
    }
    m->files.push_back(std::move(entry));
  }
  m->total_length = offset;
  return absl::OkStatus();
}

}  // namespace

std::string FileEntry::RelativePath() const { return absl::StrJoin(path, "/"); }

PieceLayout Metainfo::layout() const {
  // Validated by ParseMetainfo, so Create cannot fail here.
  return *PieceLayout::Create(total_length, piece_length);
}

FileMap Metainfo::file_map() const {
  std::vector<uint64_t> lengths;
  lengths.reserve(files.size());
  for (const FileEntry& f : files) lengths.push_back(f.length);
  return FileMap(lengths);
}

std::vector<FileSlice> Metainfo::PieceFiles(uint32_t piece) const {
  const PieceLayout l = layout();
  return file_map().Slices(l.piece_offset(piece), l.piece_size(piece));
}

absl::Status ValidatePathComponent(std::string_view c, size_t max_bytes) {
  if (c.empty()) return absl::InvalidArgumentError("empty path component");
  if (c == "." || c == "..") {
    return absl::InvalidArgumentError("relative component would escape the output folder");
  }
  if (c.find('/') != std::string_view::npos || c.find('\\') != std::string_view::npos) {
    return absl::InvalidArgumentError("path separator inside a component");
  }
  if (c.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("NUL byte inside a component");
  }
  if (c.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("component longer than ", max_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Metainfo> ParseMetainfo(std::string_view bytes, const MetainfoLimits& limits) {
  DecodeLimits decode_limits;
  decode_limits.max_input_bytes = limits.max_file_bytes;
  auto doc_or = BDocument::Parse(bytes, decode_limits);
  if (!doc_or.ok()) return Invalid(std::string(doc_or.status().message()));
  const BDocument& doc = *doc_or;
  const BView root = doc.root();
  if (!root.is_dict()) return Invalid("top level is not a dictionary");
  SWARM_ASSIGN_OR_RETURN(BView info, Require(root, "info", BType::kDict, "torrent"));

  Metainfo m;
  m.info_bytes = std::string(info.raw());
  m.info_hash = Sha1(info.raw());

  SWARM_ASSIGN_OR_RETURN(BView name, Require(info, "name", BType::kString, "info"));
  if (absl::Status s = ValidatePathComponent(name.string_value(), limits.max_component_bytes);
      !s.ok()) {
    return Invalid(absl::StrCat("info \"name\" ", Quote(name.string_value()), ": ", s.message()));
  }
  m.name = std::string(name.string_value());

  SWARM_ASSIGN_OR_RETURN(BView piece_length, Require(info, "piece length", BType::kInt, "info"));
  if (piece_length.int_value() <= 0 ||
      static_cast<uint64_t>(piece_length.int_value()) > kMaxPieceLength) {
    return Invalid(absl::StrCat("piece length ", piece_length.int_value(), " is outside 1..",
                                kMaxPieceLength));
  }
  m.piece_length = static_cast<uint32_t>(piece_length.int_value());

  SWARM_ASSIGN_OR_RETURN(BView pieces, Require(info, "pieces", BType::kString, "info"));
  if (pieces.string_value().size() % 20 != 0) {
    return Invalid(absl::StrCat("\"pieces\" is ", pieces.string_value().size(),
                                " bytes long, not a multiple of 20"));
  }
  m.piece_hashes = std::string(pieces.string_value());

  SWARM_RETURN_IF_ERROR(ParseFiles(info, limits, &m));
  if (m.total_length == 0) return Invalid("torrent has no content (total length 0)");
  const uint64_t expected = (m.total_length + m.piece_length - 1) / m.piece_length;
  if (expected != m.num_pieces()) {
    return Invalid(absl::StrCat("\"pieces\" holds ", m.num_pieces(), " hashes but ",
                                m.total_length, " bytes in pieces of ", m.piece_length,
                                " need ", expected));
  }
  if (!PieceLayout::Create(m.total_length, m.piece_length).ok()) {
    return Invalid("piece layout is not representable");
  }

  if (std::optional<BView> p = info.Find("private"); p && p->is_int()) {
    m.is_private = p->int_value() == 1;
  }
  m.trackers = ParseTrackers(root);
  if (std::optional<BView> d = root.Find("creation date"); d && d->is_int()) {
    m.creation_date = d->int_value();
  }
  if (std::optional<BView> c = root.Find("comment"); c && c->is_string()) {
    m.comment = std::string(c->string_value());
  }
  if (std::optional<BView> c = root.Find("created by"); c && c->is_string()) {
    m.created_by = std::string(c->string_value());
  }
  return m;
}

}  // namespace swarm::bt
