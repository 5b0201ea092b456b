// Small helpers for the subcommands' argument parsing.
#ifndef SWARM_CLI_ARGS_H_
#define SWARM_CLI_ARGS_H_

#include <string>
#include <utility>

namespace swarm::cli {

// The value of `flag` at argv[*i], given as "FLAG=VALUE" or as "FLAG VALUE" (then *i moves to
// the value); null when argv[*i] is not that flag or its value is missing.
const char* FlagValue(int argc, char** argv, int* i, const std::string& flag);

// "--help" or "-h": the subcommand prints its usage (every flag, one line each) on stdout
// and exits 0.
inline bool IsHelpFlag(const std::string& arg) { return arg == "--help" || arg == "-h"; }

// {parent folder, last component} of a path, trailing slashes ignored: "a/b/" -> {"a", "b"},
// "b" -> {".", "b"}, "/b" -> {"/", "b"}.
std::pair<std::string, std::string> SplitParent(std::string path);

}  // namespace swarm::cli

#endif  // SWARM_CLI_ARGS_H_
