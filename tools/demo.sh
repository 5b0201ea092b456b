#!/usr/bin/env bash
# A first run of swarm on one machine: builds swarm-cli, makes a 64 MiB payload and its
# torrent, starts a real tracker (opentracker) and a real seeder (aria2c) on loopback, then
# downloads the payload with `swarm-cli download` through the whole distributed pipeline
# (tracker_svc, coordinator, peer workers), checks it byte for byte, and cleans up.
#
#   tools/demo.sh [SIZE_MIB=64]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-64}
bazel build //cli:swarm-cli >/dev/null 2>&1 || bazel build //cli:swarm-cli
CLI=$PWD/bazel-bin/cli/swarm-cli
source tools/local_swarm.sh

echo "demo: a $SIZE_MIB MiB payload, an opentracker and an aria2c seeder on loopback"
swarm_setup "$SIZE_MIB"
start_aria2_seeder 127.0.0.2
wait_for_seeders 1
"$CLI" inspect "$TORRENT"
echo
"$CLI" download "$TORRENT" -o "$WORK/download"
if cmp -s "$PAYLOAD" "$WORK/download/payload.bin"; then
  echo "demo: the download is byte-identical to the original"
else
  echo "demo: the download differs from the original" >&2
  exit 1
fi
