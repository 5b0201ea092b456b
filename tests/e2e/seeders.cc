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
#include "common/status_macros.h"
#include "tests/testing/ports.h"

namespace swarm::testing {

absl::StatusOr<Seeder> StartAria2Seeder(const SeederOptions& o) {
  Seeder seeder;
  seeder.ip = o.ip;
  SWARM_ASSIGN_OR_RETURN(seeder.port, PickUnusedPort(SOCK_STREAM, o.ip));
  std::vector<std::string> argv = {
      "aria2c", "--interface=" + o.ip, absl::StrCat("--listen-port=", seeder.port),
      "--check-integrity=true", "--seed-ratio=0.0", "--seed-time=120",
      "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
      "--enable-peer-exchange=false", "--disable-ipv6=true", "--console-log-level=warn",
      "--summary-interval=0", "--bt-hash-check-seed=true", "--file-allocation=none",
      "--dir=" + o.data_dir, o.torrent};
  if (o.max_upload_bytes_per_s > 0) {
    argv.insert(argv.begin() + 1, absl::StrCat("--max-upload-limit=", o.max_upload_bytes_per_s));
  }
  SubprocessOptions options;
  options.capture_stdout = false;
  options.quiet_stdout = true;
  options.quiet_stderr = true;
  options.cwd = o.work_dir;
  SWARM_ASSIGN_OR_RETURN(seeder.process, Subprocess::Start(argv, options));
  return seeder;
}

absl::StatusOr<Seeder> StartTransmissionSeeder(const SeederOptions& o) {
  Seeder seeder;
  seeder.ip = o.ip;
  SWARM_ASSIGN_OR_RETURN(seeder.port, PickUnusedPort(SOCK_STREAM, o.ip));
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
  SubprocessOptions options;
  options.capture_stdout = false;
  options.quiet_stdout = true;
  options.quiet_stderr = true;
  options.cwd = o.work_dir;
  SWARM_ASSIGN_OR_RETURN(seeder.process,
                         Subprocess::Start({"transmission-cli", "-g", config_dir, "-w", o.data_dir,
                                            o.torrent},
                                           options));
  return seeder;
}

}  // namespace swarm::testing
