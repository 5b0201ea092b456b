# Shell helpers that build a throwaway BitTorrent swarm on loopback: a payload, a .torrent,
# a real opentracker and an aria2c seeder. Sourced by tools/demo.sh.
#
#   source tools/local_swarm.sh
#   swarm_setup 64            # MiB; sets WORK, TORRENT, PAYLOAD, TRACKER_PORT, INFO_HASH
#   start_aria2_seeder 127.0.0.2
#   wait_for_seeders 1
# Everything started is stopped, and $WORK removed, when the calling shell exits.

WORK=""
PIDS=()

local_swarm_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n $WORK ]] && rm -rf "$WORK"
}
trap local_swarm_cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# swarm_setup SIZE_MIB: payload, tracker and torrent under a fresh $WORK.
swarm_setup() {
  WORK=$(mktemp -d /tmp/swarm-local.XXXXXX)
  chmod 755 "$WORK"
  mkdir -p "$WORK/seed" "$WORK/tracker"
  PAYLOAD=$WORK/seed/payload.bin
  head -c $(($1 << 20)) /dev/urandom > "$PAYLOAD"
  TRACKER_PORT=$(free_port)
  TORRENT=$WORK/payload.torrent
  mktorrent -l 18 -a "http://127.0.0.1:$TRACKER_PORT/announce" -o "$TORRENT" "$PAYLOAD" >/dev/null
  INFO_HASH=$(transmission-show "$TORRENT" | awk '/Hash:/ {print $2}')
  echo "$INFO_HASH" > "$WORK/tracker/whitelist"
  chmod 755 "$WORK/tracker"
  chmod 644 "$WORK/tracker/whitelist"
  # As root, opentracker chroots into -d and drops to nobody: -w is relative to -d.
  opentracker -i 127.0.0.1 -p "$TRACKER_PORT" -P "$TRACKER_PORT" -d "$WORK/tracker" \
    -w whitelist >/dev/null 2>&1 &
  PIDS+=($!)
}

# start_aria2_seeder IP: seeds $TORRENT from $WORK/seed, bound to IP.
start_aria2_seeder() {
  aria2c --interface="$1" --listen-port="$(free_port)" --check-integrity=true \
    --seed-ratio=0.0 --seed-time=600 --enable-dht=false --enable-dht6=false \
    --bt-enable-lpd=false --enable-peer-exchange=false --disable-ipv6=true \
    --console-log-level=error --summary-interval=0 -d "$WORK/seed" "$TORRENT" \
    >/dev/null 2>&1 &
  PIDS+=($!)
}

# wait_for_seeders N: until the tracker counts N complete peers (at most 60 s).
wait_for_seeders() {
  for _ in $(seq 1 300); do
    if python3 - "$TRACKER_PORT" "$INFO_HASH" "$1" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request, urllib.parse, binascii, re
q = urllib.parse.quote(binascii.unhexlify(sys.argv[2]))
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/scrape?info_hash={q}").read()
m = re.search(rb"8:completei(\d+)e", body)
sys.exit(0 if m and int(m.group(1)) >= int(sys.argv[3]) else 1)
PY
    sleep 0.2
  done
  echo "the seeders did not reach the tracker" >&2
  return 1
}
