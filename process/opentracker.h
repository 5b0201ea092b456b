// A real opentracker (Debian's package: whitelist mode, IPv4 only, compact announces only) on
// loopback (or the address given), for `swarm-cli demo` and for tests that need a tracker
// to hand out real peers.
// Start() writes the whitelist into a fresh directory, runs
// `opentracker -i IP -p TCP -P UDP -d DIR -w FILE` (as root it chroots into DIR and
// becomes nobody, hence -w relative to DIR), retries with new ports if it loses a race for
// free ones, and returns once the HTTP side accepts connections and the UDP side answers an
// announce for a whitelisted hash (it reads the whitelist on a thread of its own, after
// binding its ports). The destructor kills it and removes its directory (unless keep_dir).
//
//   SWARM_ASSIGN_OR_RETURN(auto tracker, swarm::process::Opentracker::Start({.info_hashes =
//   {ih}})); announce_urls = {tracker->http_announce_url(), tracker->udp_announce_url()};
//
// Notes from ../shared/real-peers.md: it records the announcer's source address (ignores ip=),
// it lists the announcer itself among the peers, and it refuses unlisted info-hashes
// ("Requested download is not authorized for use with this tracker.").
// Tests using it need tags = ["no-sandbox"]: the sandbox has no user nobody to drop to.
#ifndef SWARM_PROCESS_OPENTRACKER_H_
#define SWARM_PROCESS_OPENTRACKER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "process/subprocess.h"

namespace swarm::process {

class Opentracker {
 public:
  struct Options {
    // Raw 20-byte info-hashes the tracker accepts (its whitelist). May be empty.
    std::vector<std::string> info_hashes;
    std::string binary = "/usr/bin/opentracker";
    // The IPv4 address it listens on (and the announce URLs name).
    std::string ip = "127.0.0.1";
    // How long Start() may take in all.
    absl::Duration start_timeout = absl::Seconds(30);
    // Ports to listen on; 0 picks a free one (retried with another if a process takes it
    // first). TCP and UDP ports are separate: one number may serve for both.
    int http_port = 0;
    int udp_port = 0;
    // Where its directory is made (readable by user nobody); empty: $TEST_TMPDIR, else /tmp.
    std::string parent_dir;
    // Leave the directory (whitelist, log) in place when it stops.
    bool keep_dir = false;
  };

  static absl::StatusOr<std::unique_ptr<Opentracker>> Start(Options options);
  ~Opentracker();

  int http_port() const { return http_port_; }
  int udp_port() const { return udp_port_; }
  const std::string& ip() const { return ip_; }
  // "http://IP:PORT/announce"
  std::string http_announce_url() const;
  // "udp://IP:PORT/announce"
  std::string udp_announce_url() const;
  // The directory it runs in (holds the whitelist; the log is next to it).
  const std::string& dir() const { return dir_; }
  // What the tracker printed so far (stdout and stderr).
  std::string log() const;

 private:
  Opentracker() = default;

  std::string dir_;
  std::string ip_;
  bool keep_dir_ = false;
  std::string log_path_;
  int http_port_ = 0;
  int udp_port_ = 0;
  std::unique_ptr<process::Subprocess> process_;
};

}  // namespace swarm::process

#endif  // SWARM_PROCESS_OPENTRACKER_H_
