#!/usr/bin/env bash
# Download speed of swarm against aria2c, in the same run, alternating, from one aria2c
# seeder on loopback through a real opentracker. Prints each round's MB/s and the medians
# with their ratio. This machine is shared and noisy: compare the two clients within one
# run, never against a remembered number (../shared/real-peers.md).
#
#   bench/download_speed.sh [SIZE_MIB=256] [ROUNDS=3] [WORKERS=2]
set -euo pipefail
SIZE_MIB=${1:-256}
ROUNDS=${2:-3}
WORKERS=${3:-2}
cd "$(dirname "$0")/.."
bazel build //cli:swarm-cli >/dev/null 2>&1 || bazel build //cli:swarm-cli
CLI=$PWD/bazel-bin/cli/swarm-cli

source tools/local_swarm.sh
swarm_setup "$SIZE_MIB"
start_aria2_seeder 127.0.0.2
wait_for_seeders 1
now() { date +%s.%N; }
WANT=$(sha256sum < "$PAYLOAD")

swarm_rates=(); aria_rates=()
for round in $(seq 1 "$ROUNDS"); do
  # A fresh source address per round: a seeder may refuse a peer it saw finish.
  rm -rf "$WORK/dl"; mkdir -p "$WORK/dl"
  t0=$(now)
  "$CLI" download "$TORRENT" -o "$WORK/dl" --workers="$WORKERS" \
    --bind-ip="127.0.1.$round" >/dev/null 2>"$WORK/swarm.log" || { cat "$WORK/swarm.log"; exit 1; }
  t1=$(now)
  [[ $(sha256sum < "$WORK/dl/payload.bin") == "$WANT" ]] || { echo "swarm: wrong content" >&2; exit 1; }
  swarm_rates+=("$(python3 -c "print(f'{$SIZE_MIB*1.048576/($t1-$t0):.1f}')")")

  rm -rf "$WORK/dl"; mkdir -p "$WORK/dl"
  t0=$(now)
  aria2c --interface="127.0.2.$round" --listen-port="$(free_port)" --seed-time=0 \
    --file-allocation=falloc --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --disable-ipv6=true --console-log-level=error \
    --summary-interval=0 -d "$WORK/dl" "$TORRENT" >/dev/null 2>&1
  t1=$(now)
  aria_rates+=("$(python3 -c "print(f'{$SIZE_MIB*1.048576/($t1-$t0):.1f}')")")
  echo "round $round: swarm ${swarm_rates[-1]} MB/s   aria2c ${aria_rates[-1]} MB/s"
done

python3 - "${swarm_rates[*]}" "${aria_rates[*]}" "$SIZE_MIB" "$WORKERS" <<'PY'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]
a = [float(x) for x in sys.argv[2].split()]
ms, ma = statistics.median(s), statistics.median(a)
print(f"{sys.argv[3]} MiB from one aria2c seeder, swarm with {sys.argv[4]} workers, "
      f"{len(s)} rounds (wall clock of the whole command, start-up included)")
print(f"median: swarm {ms:.1f} MB/s, aria2c {ma:.1f} MB/s, ratio swarm/aria2c {ms/ma:.2f}")
PY
