// Command-line parsing for the service mains (coordinator, peer_svc, tracker_svc): abseil
// flags, with `--help` listing the binary's own flags, one entry each. (abseil's default
// lists only flags defined in a file named after the binary, and ours live in main.cc.)
//
//   ABSL_FLAG(std::string, listen, "127.0.0.1:0", "host:port to serve gRPC on");
//   int main(int argc, char** argv) {
//     swarm::process::ParseMainFlags(argc, argv, "Serves the Coordinator service over gRPC.");
//     ... start the server on --listen ...
//     printf("coordinator listening on %s\n", BoundAddress(listen, server->port()).c_str());
#ifndef SWARM_PROCESS_MAIN_FLAGS_H_
#define SWARM_PROCESS_MAIN_FLAGS_H_

#include <string>

namespace swarm::process {

// Sets the usage message and parses argv; `--help` prints the flags defined in main.cc
// files and exits. Exits with a message on an unknown flag or a bad value.
void ParseMainFlags(int argc, char** argv, const char* usage);

// Whether `listen` is a --listen value: "host:port", or "unix:/path" (a Unix socket, as the
// embedded cluster uses).
bool IsListenAddress(const std::string& listen);
// The address a server started on `listen` is reached at: host:port with the port it bound
// (`listen` may say port 0), or the Unix socket as it is.
std::string BoundAddress(const std::string& listen, int port);

}  // namespace swarm::process

#endif  // SWARM_PROCESS_MAIN_FLAGS_H_
