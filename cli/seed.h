// `swarm-cli seed FILE.torrent DATA_PATH [--workers N] [--coordinator HOST:PORT]`: checks the
// data against the torrent (progress bar), then seeds it through the coordinator and its
// workers until Ctrl+C. DATA_PATH is the content itself (the file, or the folder named like
// the torrent) or the folder that holds it.
#ifndef SWARM_CLI_SEED_H_
#define SWARM_CLI_SEED_H_

namespace swarm::cli {

int RunSeed(int argc, char** argv);

}  // namespace swarm::cli

#endif  // SWARM_CLI_SEED_H_
