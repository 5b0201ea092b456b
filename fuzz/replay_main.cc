// A main for a fuzz target's corpus-replay test: feeds every file of the corpus folders given
// as arguments to LLVMFuzzerTestOneInput, so that `bazel test` fails when the code drifts
// from what its fuzzer once accepted (a target aborts on any broken invariant). Fails when a
// folder holds no input at all: a replay of nothing would prove nothing.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    size_t inputs = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(argv[i], ec)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) {
        std::fprintf(stderr, "cannot read %s\n", entry.path().c_str());
        return 1;
      }
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++inputs;
    }
    if (ec || inputs == 0) {
      std::fprintf(stderr, "%s: no corpus inputs (%s)\n", argv[i], ec.message().c_str());
      return 1;
    }
    std::printf("%s: %zu inputs replayed\n", argv[i], inputs);
  }
  return 0;
}
