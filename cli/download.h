// `swarm-cli download FILE.torrent [-o DIR] [--seed] [--workers N] [--coordinator ADDR]`:
// fetches a torrent's content into DIR/<name> through a coordinator and its peer workers
// (see job_runner.h); with --seed it goes on seeding until Ctrl+C. Exit status: 0 when every
// piece is verified and written, 1 when the job failed, 2 for a bad torrent, 64 for bad
// usage, 130 when interrupted before the end (data kept; run again to resume).
#ifndef SWARM_CLI_DOWNLOAD_H_
#define SWARM_CLI_DOWNLOAD_H_

namespace swarm::cli {

int RunDownload(int argc, char** argv);

}  // namespace swarm::cli

#endif  // SWARM_CLI_DOWNLOAD_H_
