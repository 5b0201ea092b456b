#include "process/main_flags.h"

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace swarm::process {

void ParseMainFlags(int argc, char** argv, const char* usage) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  // A binary's own flags, and the token and TLS flags every service shares.
  const auto defined_in_main = [](absl::string_view file) {
    return absl::EndsWith(file, "/main.cc") || absl::EndsWith(file, "rpc/service_flags.cc");
  };
  config.contains_help_flags = defined_in_main;
  config.contains_helpshort_flags = defined_in_main;
  absl::SetFlagsUsageConfig(config);
  absl::ParseCommandLine(argc, argv);
}

bool IsListenAddress(const std::string& listen) {
  if (listen.rfind("unix:", 0) == 0) return listen.size() > 5;
  const size_t colon = listen.rfind(':');
  return colon != std::string::npos && colon > 0 && colon + 1 < listen.size();
}

std::string BoundAddress(const std::string& listen, int port) {
  if (listen.rfind("unix:", 0) == 0) return listen;
  return listen.substr(0, listen.rfind(':')) + ":" + std::to_string(port);
}

}  // namespace swarm::process
