#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang-14 (ASan + UBSan) outside Bazel and runs
# each for a given time.
#
#   fuzz/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     e.g. fuzz/fuzz.sh 300
#   targets: bencode metainfo wire tracker (default: all)
#
# Findings are written to fuzz/out/<target>/ (crash-* files); the new corpus entries go to
# fuzz/out/<target>/corpus (the checked-in seeds in fuzz/corpus/<target> are left as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(bencode metainfo wire tracker)

CXX=${CXX:-clang++-14}
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (./bootstrap.sh installs clang-14)" >&2; exit 1; }
FLAGS=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I.)
ABSL=$(pkg-config --cflags --libs absl_status absl_statusor absl_strings absl_str_format)

sources_for() {
  case $1 in
    bencode) echo bt/bencode.cc ;;
    metainfo) echo bt/metainfo.cc bt/bencode.cc bt/sha1.cc bt/file_map.cc bt/piece_layout.cc ;;
    wire) echo bt/wire.cc bt/bitfield.cc bt/piece_layout.cc ;;
    tracker) echo bt/tracker/{announce,http_response,http_url,tracker_url,udp_packet}.cc bt/bencode.cc bt/utf8.cc ;;
    *) echo "fuzz.sh: unknown target $1" >&2; exit 1 ;;
  esac
}
extra_libs_for() { [[ $1 == metainfo ]] && pkg-config --libs libcrypto || true; }

for t in "${TARGETS[@]}"; do
  out=fuzz/out/$t
  mkdir -p "$out/corpus" fuzz/corpus/$t
  # shellcheck disable=SC2046
  "$CXX" "${FLAGS[@]}" fuzz/${t}_fuzz.cc $(sources_for "$t") $ABSL $(extra_libs_for "$t") -o "$out/fuzzer"
  echo "== $t: ${SECONDS_PER_TARGET}s"
  (cd "$out" && ./fuzzer -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
      -artifact_prefix=./ corpus ../../corpus/$t 2>&1 | tee log.txt | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)" || true)
  if ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* >/dev/null 2>&1; then
    echo "fuzz.sh: $t found a failure; see $out" >&2
    exit 1
  fi
done
echo "fuzz.sh: all targets ran clean"
