#!/usr/bin/env bash
# Installs every Debian package that swarm's build, tests and README commands need.
# Idempotent and quiet: installs only what is missing, runs `apt-get update` only when an
# install is needed and the package lists are absent or stale.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap bazel-rules-java bazel-platforms
  build-essential pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing
  clang-14 libclang-rt-14-dev
  # real tracker and peers for the integration tests and the demo
  opentracker transmission-cli transmission-daemon aria2 mktorrent
  python3
  # libtorrent peers for the tests (tests/e2e/lt_peer.py) and bench/download_speed.py
  # (bindings for /usr/bin/python3), `ss`
  python3-libtorrent iproute2
  # tools/tls_certs.sh (the README's TLS set-up, and the TLS tests)
  openssl
)

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "bootstrap: not root and no sudo; run as root" >&2; exit 1
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/swarm-bootstrap.XXXXXX.log)
lists_age_ok() {
  # Fresh enough when updated within the last day and non-empty.
  local stamp=/var/lib/apt/lists
  [[ -n $(find "$stamp" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1) ]]
}
if ! lists_age_ok; then
  if ! $SUDO apt-get update -qq >"$log" 2>&1; then
    echo "bootstrap: apt-get update failed; see $log" >&2; tail -5 "$log" >&2; exit 1
  fi
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  # Maybe the lists were stale after all: update once and retry.
  $SUDO apt-get update -qq >>"$log" 2>&1 || true
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    echo "bootstrap: apt-get install failed for: ${missing[*]}; see $log" >&2
    tail -15 "$log" >&2
    exit 1
  fi
fi
rm -f "$log"
echo "bootstrap: done"
