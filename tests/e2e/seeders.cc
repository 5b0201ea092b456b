#include "tests/e2e/seeders.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "process/ports.h"

namespace swarm::testing {

namespace {

absl::StatusOr<Seeder> StartAria2(const SeederOptions& o, bool seed) {
  Seeder seeder;
  seeder.ip = o.ip;
  SWARM_ASSIGN_OR_RETURN(seeder.port, process::PickUnusedPort(SOCK_STREAM, o.ip));
  std::vector<std::string> argv = {
      "aria2c", "--interface=" + o.ip, absl::StrCat("--listen-port=", seeder.port),
      "--check-integrity=true", "--seed-ratio=0.0", seed ? "--seed-time=120" : "--seed-time=0",
      "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
      "--enable-peer-exchange=false", "--disable-ipv6=true", "--console-log-level=warn",
      "--summary-interval=0", "--bt-hash-check-seed=true", "--file-allocation=none",
      "--bt-tracker-interval=1", "--dir=" + o.data_dir, o.torrent};
  if (o.max_upload_bytes_per_s > 0) {
    argv.insert(argv.begin() + 1, absl::StrCat("--max-upload-limit=", o.max_upload_bytes_per_s));
  }
  process::SubprocessOptions options;
  options.capture_stdout = false;
  options.quiet_stdout = true;
  options.quiet_stderr = true;
  options.cwd = o.work_dir;
  SWARM_ASSIGN_OR_RETURN(seeder.process, process::Subprocess::Start(argv, options));
  return seeder;
}

absl::StatusOr<Seeder> StartTransmission(const SeederOptions& o, bool seed) {
  Seeder seeder;
  seeder.ip = o.ip;
  SWARM_ASSIGN_OR_RETURN(seeder.port, process::PickUnusedPort(SOCK_STREAM, o.ip));
  const std::string config_dir = o.work_dir + "/transmission";
  mkdir(config_dir.c_str(), 0755);
  {
    std::ofstream settings(config_dir + "/settings.json");
    settings << "{\"bind-address-ipv4\": \"" << o.ip << "\", \"peer-port\": " << seeder.port
             << ", \"peer-port-random-on-start\": false, \"dht-enabled\": false,"
             << " \"lpd-enabled\": false, \"pex-enabled\": false, \"utp-enabled\": false,"
             << " \"port-forwarding-enabled\": false, \"rpc-enabled\": false,"
             << " \"ratio-limit-enabled\": false, \"message-level\": 1,"
             << " \"speed-limit-up-enabled\": " << (o.max_upload_bytes_per_s > 0 ? "true" : "false")
             << ", \"speed-limit-up\": " << (o.max_upload_bytes_per_s + 1023) / 1024 << "}\n";
    if (!settings) return absl::InternalError("cannot write transmission settings");
  }
  process::SubprocessOptions options;
  options.capture_stdout = false;
  options.quiet_stdout = true;
  options.quiet_stderr = true;
  options.cwd = o.work_dir;
  std::vector<std::string> argv = {"transmission-cli", "-g", config_dir, "-w", o.data_dir};
  if (!seed) {
    const std::string script = o.work_dir + "/on-finish.sh";
    std::ofstream(script) << "#!/bin/sh\ntouch '" << o.work_dir << "/transmission-done'\n";
    chmod(script.c_str(), 0755);
    argv.insert(argv.end(), {"-f", script});
  }
  argv.push_back(o.torrent);
  SWARM_ASSIGN_OR_RETURN(seeder.process, process::Subprocess::Start(argv, options));
  return seeder;
}

absl::StatusOr<Seeder> StartLibtorrent(const SeederOptions& o, bool seed) {
  Seeder seeder;
  seeder.ip = o.ip;
  SWARM_ASSIGN_OR_RETURN(seeder.port, process::PickUnusedPort(SOCK_STREAM, o.ip));
  process::SubprocessOptions options;
  options.quiet_stderr = true;
  options.cwd = o.work_dir;
  // Relative to the test's runfiles, where the test starts; cwd is the client's own.
  char cwd[4096];
  const std::string script =
      std::string(getcwd(cwd, sizeof(cwd)) != nullptr ? cwd : ".") + "/tests/e2e/lt_peer.py";
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   script,
                                   seed ? "seed" : "leech",
                                   o.torrent,
                                   o.data_dir,
                                   o.ip,
                                   absl::StrCat(seeder.port),
                                   absl::StrCat("upload=", o.max_upload_bytes_per_s),
                                   absl::StrCat("download=", o.max_download_bytes_per_s)};
  if (!o.connect_to.empty()) argv.push_back("connect=" + o.connect_to);
  SWARM_ASSIGN_OR_RETURN(seeder.process, process::Subprocess::Start(argv, options));
  return seeder;
}

}  // namespace

absl::StatusOr<Seeder> StartAria2Seeder(const SeederOptions& o) { return StartAria2(o, true); }
absl::StatusOr<Seeder> StartLibtorrentSeeder(const SeederOptions& o) {
  return StartLibtorrent(o, true);
}
absl::StatusOr<Seeder> StartLibtorrentLeecher(const SeederOptions& o) {
  return StartLibtorrent(o, false);
}
absl::StatusOr<Seeder> StartAria2Leecher(const SeederOptions& o) { return StartAria2(o, false); }
absl::StatusOr<Seeder> StartTransmissionSeeder(const SeederOptions& o) {
  return StartTransmission(o, true);
}
absl::StatusOr<Seeder> StartTransmissionLeecher(const SeederOptions& o) {
  return StartTransmission(o, false);
}

}  // namespace swarm::testing
