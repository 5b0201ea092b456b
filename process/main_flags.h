// Command-line parsing for the service mains (coordinator, peer_svc, tracker_svc): abseil
// flags, with `--help` listing the binary's own flags, one entry each. (abseil's default
// lists only flags defined in a file named after the binary, and ours live in main.cc.)
//
//   ABSL_FLAG(std::string, listen, "127.0.0.1:0", "host:port to serve gRPC on");
//   int main(int argc, char** argv) {
//     swarm::process::ParseMainFlags(argc, argv, "Serves the Coordinator service over gRPC.");
#ifndef SWARM_PROCESS_MAIN_FLAGS_H_
#define SWARM_PROCESS_MAIN_FLAGS_H_

namespace swarm::process {

// Sets the usage message and parses argv; `--help` prints the flags defined in main.cc
// files and exits. Exits with a message on an unknown flag or a bad value.
void ParseMainFlags(int argc, char** argv, const char* usage);

}  // namespace swarm::process

#endif  // SWARM_PROCESS_MAIN_FLAGS_H_
