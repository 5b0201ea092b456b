// Runs one job on a coordinator and follows it to its end: the common core of `swarm-cli
// download`, `download --seed` and `seed`. Without a coordinator address it starts the
// embedded cluster (EmbeddedCluster) and stops it on exit. Ctrl+C / SIGTERM cancel the job
// (data kept); for a seeding job that is the normal way to stop.
//
//   JobRunOptions options;
//   options.torrent_path = "x.torrent";
//   options.output_dir = ".";
//   return RunJob(options);   // the process exit status
#ifndef SWARM_CLI_JOB_RUNNER_H_
#define SWARM_CLI_JOB_RUNNER_H_

#include <string>
#include <vector>

#include "proto/coordinator.pb.h"
#include "rpc/tls.h"

namespace swarm::cli {

struct JobRunOptions {
  // A .torrent file, or a magnet link (BEP 9).
  std::string torrent_path;
  // Folder holding (or to hold) <name>; created when missing.
  std::string output_dir = ".";
  pb::JobMode mode = pb::DOWNLOAD;
  int workers = 0;  // 0: DefaultWorkerCount()
  std::string coordinator;  // empty: the embedded cluster
  // The file holding the coordinator's secret (--auth-token-file); empty: $SWARM_AUTH_TOKEN.
  // The embedded cluster makes its own.
  std::string auth_token_file;
  // TLS to a running coordinator, and for the writer started beside the output folder
  // (rpc/tls.h): --tls-ca, --tls-cert, --tls-key, --tls-server-name.
  rpc::TlsFiles tls;
  std::vector<std::string> bind_ips;
  bool verbose = false;
  uint32_t max_announce_interval_s = 0;
  // Check all data on disk, whatever the resume record says.
  bool recheck = false;
  // Overwrite files found at the torrent's paths that differ from it (--overwrite).
  bool overwrite = false;
  // The embedded coordinator's resume records; empty: DefaultStateDir().
  std::string state_dir;
  // Where to write the .torrent the job runs (a magnet link's, once its metadata is in).
  std::string save_torrent;
};

// Blocks SIGINT/SIGTERM in this and every later thread and takes them in a watcher thread
// instead; RunJob calls it too. Call it before starting threads or children.
void WatchInterrupts();

// Exit status: 0 when the job completed (or, seeding, was stopped by the user), 1 when it
// failed, 2 for a bad torrent, 130 when a download was interrupted (data kept).
int RunJob(const JobRunOptions& options);

// The flags every job command shares, one line each, for the subcommands' usage texts.
inline constexpr char kJobFlagsUsage[] =
    "  --workers N               peer workers of the embedded cluster (default: one per core,\n"
    "                            2 to 8)\n"
    "  --coordinator HOST:PORT   submit to a running coordinator instead of starting a cluster\n"
    "  --auth-token-file FILE    file (mode 0600) with the token that coordinator was\n"
    "                            started with (default: $SWARM_AUTH_TOKEN)\n"
    "  --tls-ca FILE             talk TLS to the coordinator, checking it by this CA\n"
    "  --tls-cert FILE, --tls-key FILE\n"
    "                            our certificate, for coordinators that require one (and\n"
    "                            served by the writer beside the output folder)\n"
    "  --tls-server-name NAME    the name in the servers' certificates, if not their host\n"
    "  --bind-ip IP[,IP...]      source addresses of the embedded workers' peer connections\n"
    "  --announce-interval S     announce at least every S seconds (caps the tracker's)\n"
    "  --recheck                 check all data already on disk, trusting no resume record\n"
    "  --overwrite               replace files at the torrent's paths that this download did\n"
    "                            not make and that differ from it (refused otherwise)\n"
    "  --state-dir DIR           the embedded cluster's resume records (default:\n"
    "                            $XDG_STATE_HOME/swarm or ~/.local/state/swarm)\n"
    "  --save-torrent FILE       write the .torrent to FILE (a magnet link's, once its\n"
    "                            metadata has come from peers)\n"
    "  -v, --verbose             the cluster's logs on stderr\n"
    "  -h, --help                this text\n";

// Parses the flags every job command shares (--workers, --coordinator, --auth-token-file,
// --tls-*, --bind-ip, --verbose, --announce-interval, --recheck, --overwrite, --state-dir,
// --save-torrent) at
// argv[*i]; returns false when argv[*i] is not one of them, and sets *error for a bad value.
bool ParseCommonJobFlag(int argc, char** argv, int* i, JobRunOptions* options,
                        std::string* error);

}  // namespace swarm::cli

#endif  // SWARM_CLI_JOB_RUNNER_H_
