// swarm-cli: the user's entry point. One file per subcommand; this only dispatches.
#include <iostream>
#include <string_view>

#include "cli/create.h"
#include "cli/demo.h"
#include "cli/download.h"
#include "cli/inspect.h"
#include "cli/seed.h"

namespace {

constexpr const char* kUsage =
    "usage: swarm-cli COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  demo [--size-mib N]             a whole swarm on this machine: tracker, seeder, download\n"
    "  download FILE.torrent [-o DIR] [--seed] [--workers N] [--coordinator HOST:PORT]\n"
    "                                  fetch a torrent's content into DIR/<name>\n"
    "  seed FILE.torrent DATA_PATH     check the data, then seed it until Ctrl+C\n"
    "  inspect FILE.torrent [--json]   show a torrent's name, info-hash, files, trackers\n"
    "  create PATH -t URL [-t URL...] [--piece-length N] [--private] [-o FILE.torrent]\n"
    "                                  make a torrent of a file or folder\n"
    "\n"
    "swarm-cli COMMAND --help lists a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 64;
  }
  const std::string_view command = argv[1];
  if (command == "inspect") return swarm::cli::RunInspect(argc - 2, argv + 2);
  if (command == "demo") return swarm::cli::RunDemo(argc - 2, argv + 2);
  if (command == "seed") return swarm::cli::RunSeed(argc - 2, argv + 2);
  if (command == "create") return swarm::cli::RunCreate(argc - 2, argv + 2);
  if (command == "download") return swarm::cli::RunDownload(argc - 2, argv + 2);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "swarm-cli: unknown command \"" << command << "\"\n" << kUsage;
  return 64;
}
