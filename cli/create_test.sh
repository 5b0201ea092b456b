#!/usr/bin/env bash
# `swarm-cli create` against the real tools: the info-hash equals mktorrent's for the same
# content and piece length (both write the canonical minimal info dictionary), and the result
# loads in transmission-show and aria2c.
set -euo pipefail
CLI="$PWD/cli/swarm-cli"
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/create.XXXXXX")
cd "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }

head -c 1000000 /dev/urandom > single.bin
mkdir -p tree/sub tree/zdir
head -c 70000 /dev/urandom > tree/alpha.bin
head -c 33333 /dev/urandom > tree/sub/beta.bin
echo hi > tree/zdir/gamma.txt

"$CLI" create single.bin -t http://t.example/announce --piece-length 65536 -o swarm_single.torrent 2>/dev/null
mktorrent -l 16 -a http://t.example/announce -o mk_single.torrent single.bin >/dev/null
"$CLI" create tree -t http://t.example/announce -t udp://u.example:80,udp://v.example:80 \
  --piece-length 32768 --private -o swarm_tree.torrent 2>/dev/null
mktorrent -p -l 15 -a http://t.example/announce -o mk_tree.torrent tree >/dev/null

hash() { transmission-show "$1" | awk '/Hash:/ {print $2}'; }
[[ $(hash swarm_single.torrent) == $(hash mk_single.torrent) ]] || fail "single-file info-hash differs from mktorrent's"
[[ $(hash swarm_tree.torrent) == $(hash mk_tree.torrent) ]] || fail "multi-file info-hash differs from mktorrent's"

transmission-show swarm_tree.torrent | grep -q "Privacy: Private torrent" || fail "private flag"
transmission-show swarm_tree.torrent | grep -q "tree/sub/beta.bin" || fail "transmission file list"
aria2c -S swarm_tree.torrent | grep -q "tree/zdir/gamma.txt" || fail "aria2c does not load it"
aria2c -S swarm_tree.torrent | grep -q "udp://v.example:80" || fail "aria2c tiers"

# Default piece length and output name; errors.
"$CLI" create single.bin -t http://t.example/announce 2>/dev/null
[[ -s single.bin.torrent ]] || fail "default output name"
mkdir empty
set +e
"$CLI" create empty -t http://t.example/announce 2>err.txt; rc=$?
set -e
[[ $rc -eq 1 ]] && grep -q "holds no files" err.txt || fail "empty folder: $rc $(cat err.txt)"
echo PASS
