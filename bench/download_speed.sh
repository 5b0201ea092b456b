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

WORK=$(mktemp -d /tmp/swarm-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

mkdir -p "$WORK/seed" "$WORK/tracker"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$WORK/seed/payload.bin"
TRACKER_PORT=$(free_port)
mktorrent -l 18 -a "http://127.0.0.1:$TRACKER_PORT/announce" -o "$WORK/bench.torrent" \
  "$WORK/seed/payload.bin" >/dev/null
INFO_HASH=$(transmission-show "$WORK/bench.torrent" | awk '/Hash:/ {print $2}')
echo "$INFO_HASH" > "$WORK/tracker/whitelist"
chmod 755 "$WORK/tracker"; chmod 644 "$WORK/tracker/whitelist"
opentracker -i 127.0.0.1 -p "$TRACKER_PORT" -P "$TRACKER_PORT" -d "$WORK/tracker" -w whitelist \
  >/dev/null 2>&1 &
PIDS+=($!)

SEED_PORT=$(free_port)
aria2c --interface=127.0.0.2 --listen-port="$SEED_PORT" --check-integrity=true \
  --seed-ratio=0.0 --seed-time=600 --enable-dht=false --enable-dht6=false \
  --bt-enable-lpd=false --enable-peer-exchange=false --disable-ipv6=true \
  --console-log-level=error --summary-interval=0 -d "$WORK/seed" "$WORK/bench.torrent" \
  >/dev/null 2>&1 &
PIDS+=($!)

# Wait until the tracker counts the seeder as complete.
for _ in $(seq 1 300); do
  if python3 - "$TRACKER_PORT" "$INFO_HASH" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request, urllib.parse, binascii
q = urllib.parse.quote(binascii.unhexlify(sys.argv[2]))
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/scrape?info_hash={q}").read()
sys.exit(0 if b"8:completei1e" in body else 1)
PY
  sleep 0.2
done
WANT=$(sha256sum < "$WORK/seed/payload.bin")

swarm_rates=(); aria_rates=()
for round in $(seq 1 "$ROUNDS"); do
  # A fresh source address per round: a seeder may refuse a peer it saw finish.
  rm -rf "$WORK/dl"; mkdir -p "$WORK/dl"
  t0=$(now)
  "$CLI" download "$WORK/bench.torrent" -o "$WORK/dl" --workers="$WORKERS" \
    --bind-ip="127.0.1.$round" >/dev/null 2>"$WORK/swarm.log" || { cat "$WORK/swarm.log"; exit 1; }
  t1=$(now)
  [[ $(sha256sum < "$WORK/dl/payload.bin") == "$WANT" ]] || { echo "swarm: wrong content" >&2; exit 1; }
  swarm_rates+=("$(python3 -c "print(f'{$SIZE_MIB*1.048576/($t1-$t0):.1f}')")")

  rm -rf "$WORK/dl"; mkdir -p "$WORK/dl"
  t0=$(now)
  aria2c --interface="127.0.2.$round" --listen-port="$(free_port)" --seed-time=0 \
    --file-allocation=falloc --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --disable-ipv6=true --console-log-level=error \
    --summary-interval=0 -d "$WORK/dl" "$WORK/bench.torrent" >/dev/null 2>&1
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
