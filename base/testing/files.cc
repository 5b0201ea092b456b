#include "base/testing/files.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>

namespace swarm::testing {

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + prefix + ".XXXXXX";
  return mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

bool WriteWholeFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  return !out.fail();
}

}  // namespace swarm::testing
