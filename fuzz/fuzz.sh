#!/usr/bin/env bash
# Builds the libFuzzer binaries of fuzz/ from the Bazel targets (`--config=fuzz`: clang-14,
# ASan, UBSan; the same libraries as the product) and runs each for a given time.
#
#   fuzz/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     e.g. fuzz/fuzz.sh 300
#   targets: bencode metainfo wire tracker endpoint extension_handshake resume_record magnet
#            ut_metadata ut_pex (default: all)
#
# Findings are written to fuzz/out/<target>/ (crash-* files); new corpus entries go to
# fuzz/out/<target>/corpus. To keep new inputs as seeds, merge them into the checked-in corpus
# (which `bazel test //fuzz/...` replays):
#   fuzz/out/<target>/fuzzer -merge=1 fuzz/corpus/<target> fuzz/out/<target>/corpus
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(bencode metainfo wire tracker endpoint extension_handshake resume_record magnet
  ut_metadata ut_pex)

labels=()
for t in "${TARGETS[@]}"; do labels+=("//fuzz:${t}_fuzzer"); done
if ! bazel build --config=fuzz "${labels[@]}"; then
  echo "fuzz.sh: build failed" >&2
  exit 1
fi
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)

for t in "${TARGETS[@]}"; do
  out=fuzz/out/$t
  rm -f "$out/fuzzer"
  mkdir -p "$out/corpus"
  cp "$bin/fuzz/${t}_fuzzer" "$out/fuzzer"
  echo "== $t: ${SECONDS_PER_TARGET}s"
  (cd "$out" && ./fuzzer -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
      -artifact_prefix=./ corpus ../../corpus/$t 2>&1 | tee log.txt |
      grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)" || true)
  if ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* >/dev/null 2>&1; then
    echo "fuzz.sh: $t found a failure; see $out" >&2
    exit 1
  fi
done
echo "fuzz.sh: all targets ran clean"
