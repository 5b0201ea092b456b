#include "cli/download.h"

#include <iostream>
#include <string>

#include "cli/job_runner.h"

namespace swarm::cli {
namespace {

constexpr const char* kUsage =
    "usage: swarm-cli download FILE.torrent [-o DIR] [--seed] [--workers N]\n"
    "                          [--coordinator HOST:PORT] [--bind-ip IP[,IP...]] [--verbose]\n";

}  // namespace

int RunDownload(int argc, char** argv) {
  JobRunOptions options;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string error;
    if (ParseCommonJobFlag(argc, argv, &i, &options, &error)) {
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
      std::cerr << "swarm-cli download: unknown option " << arg << "\n" << kUsage;
      return 64;
    } else if (options.torrent_path.empty()) {
      options.torrent_path = arg;
    } else {
      std::cerr << "swarm-cli download: one torrent at a time\n" << kUsage;
      return 64;
    }
  }
  if (options.torrent_path.empty()) {
    std::cerr << kUsage;
    return 64;
  }
  return RunJob(options);
}

}  // namespace swarm::cli
