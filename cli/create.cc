#include "cli/create.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "bt/magnet.h"
#include "bt/metainfo.h"
#include "bt/sha1.h"
#include "bt/torrent_builder.h"
#include "cli/args.h"
#include "storage/content_files.h"

namespace swarm::cli {
namespace {

constexpr const char* kUsage =
    "usage: swarm-cli create PATH -t TRACKER_URL [-t ...] [options]\n"
    "Makes a torrent of a file or folder.\n\n"
    "  -t, --tracker URL[,URL...]  one tier of trackers (BEP 12); repeat for more tiers\n"
    "  --piece-length BYTES        a power of two from 16384 (default: chosen by size)\n"
    "  --private                   a private torrent (BEP 27)\n"
    "  --comment TEXT              the torrent's comment\n"
    "  -o FILE.torrent             where to write it (default: <name>.torrent)\n"
    "  --magnet                    also print its magnet link on stdout\n"
    "  -h, --help                  this text\n";

// Lists the regular files under `dir` (relative component lists), sorted by path so the
// torrent does not depend on directory order. Symlinks and special files are skipped.
absl::Status ListFiles(const std::string& dir, std::vector<std::string> prefix,
                       std::vector<bt::TorrentSpec::File>* out) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return absl::NotFoundError(absl::StrCat(dir, ": ", std::strerror(errno)));
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) continue;
    std::vector<std::string> components = prefix;
    components.push_back(name);
    if (S_ISDIR(st.st_mode)) {
      SWARM_RETURN_IF_ERROR(ListFiles(path, components, out));
    } else if (S_ISREG(st.st_mode)) {
      out->push_back({components, static_cast<uint64_t>(st.st_size)});
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> CreateTorrent(const CreateOptions& options) {
  std::string path = options.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  const auto [parent, name] = SplitParent(path);
  bt::TorrentSpec spec;
  spec.name = name;
  if (S_ISDIR(st.st_mode)) {
    SWARM_RETURN_IF_ERROR(ListFiles(path, {}, &spec.files));
    if (spec.files.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no files"));
  } else if (S_ISREG(st.st_mode)) {
    spec.files.push_back({{}, static_cast<uint64_t>(st.st_size)});
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path, " is neither a file nor a folder"));
  }
  uint64_t total = 0;
  for (const auto& f : spec.files) total += f.length;
  if (total == 0) return absl::InvalidArgumentError(absl::StrCat(path, " holds no data"));
  spec.piece_length = options.piece_length ? options.piece_length : bt::DefaultPieceLength(total);
  const uint32_t num_pieces =
      static_cast<uint32_t>((total + spec.piece_length - 1) / spec.piece_length);

  // A draft torrent with placeholder hashes gives the file layout to ContentFiles, whose
  // reads span file boundaries and never follow a symlink out of the folder.
  spec.piece_hashes.assign(size_t{num_pieces} * 20, '\0');
  spec.trackers = options.trackers;
  spec.is_private = options.is_private;
  spec.comment = options.comment;
  spec.created_by = "swarm 0.1";
  spec.creation_date = absl::ToUnixSeconds(absl::Now());
  SWARM_ASSIGN_OR_RETURN(std::string draft, bt::BuildTorrent(spec));
  SWARM_ASSIGN_OR_RETURN(bt::Metainfo metainfo, bt::ParseMetainfo(draft));
  SWARM_ASSIGN_OR_RETURN(
      auto files, storage::ContentFiles::Open(metainfo, parent, storage::ContentMode::kReadOnly));

  // Each thread hashes every n-th piece: reads stay large and spread over the files.
  const int threads = std::max(1, options.threads > 0
                                      ? options.threads
                                      : static_cast<int>(std::thread::hardware_concurrency()));
  std::atomic<uint64_t> hashed{0};
  std::atomic<bool> failed{false};
  absl::Mutex error_mu;
  absl::Status error;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::string buffer;
      for (uint32_t p = t; p < num_pieces && !failed; p += threads) {
        absl::Status s = files->ReadPiece(p, &buffer);
        if (!s.ok()) {
          absl::MutexLock lock(&error_mu);
          error = s;
          failed = true;
          return;
        }
        const bt::Sha1Digest d = bt::Sha1(buffer);
        std::memcpy(&spec.piece_hashes[size_t{p} * 20], d.data(), 20);
        hashed += buffer.size();
      }
    });
  }
  while (options.on_progress) {
    const uint64_t done = hashed.load();
    options.on_progress(done, total);
    if (done >= total || failed) break;
    absl::SleepFor(absl::Milliseconds(200));  // only paces the progress display
  }
  for (std::thread& t : pool) t.join();
  if (failed) return error;
  return bt::BuildTorrent(spec);
}

int RunCreate(int argc, char** argv) {
  CreateOptions options;
  std::string output;
  bool print_magnet = false;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const std::string& flag) { return FlagValue(argc, argv, &i, flag); };
    if (IsHelpFlag(arg)) {
      std::cout << kUsage;
      return 0;
    } else if (const char* v = value("-t"); v) {
      std::vector<std::string> tier = absl::StrSplit(v, ',', absl::SkipEmpty());
      if (!tier.empty()) options.trackers.push_back(tier);
    } else if (const char* v = value("--tracker"); v) {
      options.trackers.push_back(absl::StrSplit(v, ',', absl::SkipEmpty()));
    } else if (const char* v = value("--piece-length"); v) {
      uint32_t n;
      if (!absl::SimpleAtoi(v, &n) || n < 16384 || n > (64u << 20) || (n & (n - 1)) != 0) {
        std::cerr << "swarm-cli create: --piece-length must be a power of two from 16384 to "
                     "67108864\n";
        return 64;
      }
      options.piece_length = n;
    } else if (const char* v = value("-o"); v) {
      output = v;
    } else if (const char* v = value("--comment"); v) {
      options.comment = v;
    } else if (arg == "--private") {
      options.is_private = true;
    } else if (arg == "--magnet") {
      print_magnet = true;
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "swarm-cli create: unknown option " << arg << "\n" << kUsage;
      return 64;
    } else if (options.path.empty()) {
      options.path = arg;
    } else {
      std::cerr << kUsage;
      return 64;
    }
  }
  if (options.path.empty()) {
    std::cerr << kUsage;
    return 64;
  }
  const bool terminal = isatty(STDERR_FILENO);
  const absl::Time start = absl::Now();
  options.on_progress = [&](uint64_t done, uint64_t total) {
    if (!terminal) return;
    const double s = std::max(1e-3, absl::ToDoubleSeconds(absl::Now() - start));
    std::fprintf(stderr, "\rhashing %5.1f%%  %6.1f MB/s\033[K", 100.0 * done / total, done / s / 1e6);
  };
  absl::StatusOr<std::string> torrent = CreateTorrent(options);
  if (terminal) std::fputc('\n', stderr);
  if (!torrent.ok()) {
    std::cerr << "swarm-cli create: " << torrent.status().message() << "\n";
    return 1;
  }
  auto metainfo = bt::ParseMetainfo(*torrent);
  if (output.empty()) output = metainfo->name + ".torrent";
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  out << *torrent;
  out.close();
  if (!out) {
    std::cerr << "swarm-cli create: cannot write " << output << "\n";
    return 1;
  }
  std::cerr << "swarm-cli create: " << output << ": " << metainfo->files.size() << " files, "
            << metainfo->total_length << " bytes, " << metainfo->num_pieces() << " pieces of "
            << metainfo->piece_length << ", info-hash " << bt::ToHex(metainfo->info_hash) << "\n";
  if (print_magnet) std::cout << bt::ToMagnet(bt::MagnetFor(*metainfo)) << "\n";
  return 0;
}

}  // namespace swarm::cli
