#include "cli/args.h"

namespace swarm::cli {

const char* FlagValue(int argc, char** argv, int* i, const std::string& flag) {
  const std::string arg = argv[*i];
  if (arg.rfind(flag + "=", 0) == 0) return argv[*i] + flag.size() + 1;
  if (arg == flag && *i + 1 < argc) return argv[++*i];
  return nullptr;
}

std::pair<std::string, std::string> SplitParent(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace swarm::cli
