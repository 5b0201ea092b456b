#include "cli/seed.h"

#include <sys/stat.h>

#include <iostream>
#include <string>

#include "bt/metainfo.h"
#include "cli/args.h"
#include "cli/job_runner.h"
#include "cli/read_file.h"

namespace swarm::cli {
namespace {

// The command's own lines; the shared job flags follow (kJobFlagsUsage).
constexpr char kUsageHead[] =
    "usage: swarm-cli seed FILE.torrent DATA_PATH [options]\n"
    "Checks the data (the content itself, or the folder holding it) against the torrent,\n"
    "then seeds it until Ctrl+C.\n\n";

std::string Usage() { return absl::StrCat(kUsageHead, kJobFlagsUsage); }

// The folder holding the content: DATA_PATH itself, or its parent when DATA_PATH is the
// content (named like the torrent).
std::string ContentParent(std::string data_path, const std::string& torrent_path) {
  while (data_path.size() > 1 && data_path.back() == '/') data_path.pop_back();
  auto bytes = ReadFileCapped(torrent_path, bt::MetainfoLimits().max_file_bytes);
  if (!bytes.ok()) return data_path;
  auto m = bt::ParseMetainfo(*bytes);
  if (!m.ok()) return data_path;
  const auto [parent, base] = SplitParent(data_path);
  struct stat st;
  const bool is_file = stat(data_path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  if (base == m->name && (is_file || m->multi_file)) return parent;
  return data_path;
}

}  // namespace

int RunSeed(int argc, char** argv) {
  JobRunOptions options;
  options.mode = pb::SEED;
  std::string data_path;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string error;
    if (IsHelpFlag(arg)) {
      std::cout << Usage();
      return 0;
    } else if (ParseCommonJobFlag(argc, argv, &i, &options, &error)) {
      if (!error.empty()) {
        std::cerr << "swarm-cli seed: " << error << "\n";
        return 64;
      }
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "swarm-cli seed: unknown option " << arg << "\n" << Usage();
      return 64;
    } else if (options.torrent_path.empty()) {
      options.torrent_path = arg;
    } else if (data_path.empty()) {
      data_path = arg;
    } else {
      std::cerr << Usage();
      return 64;
    }
  }
  if (options.torrent_path.empty() || data_path.empty()) {
    std::cerr << Usage();
    return 64;
  }
  struct stat st;
  if (stat(data_path.c_str(), &st) != 0) {
    std::cerr << "swarm-cli seed: " << data_path << " does not exist\n";
    return 1;
  }
  options.output_dir = ContentParent(data_path, options.torrent_path);
  return RunJob(options);
}

}  // namespace swarm::cli
