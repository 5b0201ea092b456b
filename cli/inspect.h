// `swarm-cli inspect FILE.torrent [--json]`: what a torrent holds, without downloading.
#ifndef SWARM_CLI_INSPECT_H_
#define SWARM_CLI_INSPECT_H_

#include <string>

#include "bt/magnet.h"
#include "bt/metainfo.h"

namespace swarm::cli {

// Human-readable report: name, info-hash, sizes, pieces, files, trackers by tier.
std::string FormatInspectText(const bt::Metainfo& m);
// The same as one JSON object.
std::string FormatInspectJson(const bt::Metainfo& m);
// The same for a magnet link: its name, info-hash, trackers and peers.
std::string FormatMagnetText(const bt::MagnetLink& link);
std::string FormatMagnetJson(const bt::MagnetLink& link);

// Runs the subcommand on argv after "inspect"; returns the process exit status
// (0, 2 for a bad file, 64 for bad usage).
int RunInspect(int argc, char** argv);

}  // namespace swarm::cli

#endif  // SWARM_CLI_INSPECT_H_
