#include "cli/download.h"

#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/job_runner.h"

namespace swarm::cli {
namespace {

// The command's own lines; the shared job flags follow (kJobFlagsUsage).
constexpr char kUsageHead[] =
    "usage: swarm-cli download FILE.torrent|MAGNET-LINK [-o DIR] [--seed] [options]\n"
    "Fetches the torrent's content into DIR/<name>, every piece SHA-1-verified. A magnet\n"
    "link ('magnet:?xt=urn:btih:...') gets the torrent's metadata from peers first.\n\n"
    "  -o, --output DIR          folder to write the content into (default: .)\n"
    "  --seed                    go on seeding after the download, until Ctrl+C\n";

std::string Usage() { return absl::StrCat(kUsageHead, kJobFlagsUsage); }

}  // namespace

int RunDownload(int argc, char** argv) {
  JobRunOptions options;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string error;
    if (IsHelpFlag(arg)) {
      std::cout << Usage();
      return 0;
    } else if (ParseCommonJobFlag(argc, argv, &i, &options, &error)) {
      if (!error.empty()) {
        std::cerr << "swarm-cli download: " << error << "\n";
        return 64;
      }
    } else if ((arg == "-o" || arg == "--output") && i + 1 < argc) {
      options.output_dir = argv[++i];
    } else if (arg.rfind("--output=", 0) == 0) {
      options.output_dir = arg.substr(9);
    } else if (arg == "--seed") {
      options.mode = pb::DOWNLOAD_THEN_SEED;
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "swarm-cli download: unknown option " << arg << "\n" << Usage();
      return 64;
    } else if (options.torrent_path.empty()) {
      options.torrent_path = arg;
    } else {
      std::cerr << "swarm-cli download: one torrent at a time\n" << Usage();
      return 64;
    }
  }
  if (options.torrent_path.empty()) {
    std::cerr << Usage();
    return 64;
  }
  return RunJob(options);
}

}  // namespace swarm::cli
