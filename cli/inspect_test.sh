#!/usr/bin/env bash
# End-to-end test of `swarm-cli inspect`: torrents made now by mktorrent and
# transmission-create (info-hash checked against transmission-show), --json parsed by
# python3, and hostile torrents refused with one line on stderr and exit status 2.
set -euo pipefail
CLI="$PWD/cli/swarm-cli"
TESTDATA="$PWD/bt/testdata"
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/inspect.XXXXXX")
cd "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p payload/sub
head -c 300000 /dev/urandom > payload/big.bin
echo hello > payload/sub/small.txt
head -c 70000 /dev/urandom > single.bin

mktorrent -l 16 -a http://t.example/announce -a udp://u.example:80 -o mk.torrent payload >/dev/null
transmission-create -t http://t.example/announce -o tr.torrent single.bin >/dev/null

for t in mk.torrent tr.torrent; do
  expected=$(transmission-show "$t" | awk '/Hash:/ {print $2}')
  out=$("$CLI" inspect "$t")
  echo "$out" | grep -q "info-hash:    $expected" || fail "$t: info-hash, wanted $expected in: $out"
  json=$("$CLI" inspect --json "$t")
  got=$(echo "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["info_hash"])')
  [[ $got == "$expected" ]] || fail "$t: json info_hash $got != $expected"
done

"$CLI" inspect mk.torrent | grep -q "payload/sub/small.txt" || fail "multi-file listing"
"$CLI" inspect mk.torrent | grep -q "tier 2: udp://u.example:80" || fail "tiers"
python3 - "$CLI" <<'PY' || fail "json fields"
import json, subprocess, sys
j = json.loads(subprocess.check_output([sys.argv[1], "inspect", "--json", "mk.torrent"]))
assert j["name"] == "payload", j
assert j["total_size"] == 300006, j
assert j["piece_length"] == 65536 and j["piece_count"] == 5, j
assert [f["path"] for f in j["files"]] == ["payload/big.bin", "payload/sub/small.txt"], j
assert j["trackers"] == [["http://t.example/announce"], ["udp://u.example:80"]], j
PY
"$CLI" inspect "$TESTDATA/tr_multi.torrent" | grep -q "99e21fac3bfe1a41b09a3febd71eea7353f4fe89" \
  || fail "checked-in torrent"

# Magnet links: transmission's for its torrent names the same info-hash; ours is read back.
tr_magnet=$(transmission-show --magnet tr.torrent)
expected=$(transmission-show tr.torrent | awk '/Hash:/ {print $2}')
"$CLI" inspect "$tr_magnet" | grep -q "info-hash:    $expected" || fail "transmission's magnet link"
ours=$("$CLI" inspect --json mk.torrent | python3 -c 'import json,sys; print(json.load(sys.stdin)["magnet"])')
python3 - "$CLI" "$ours" <<'PY' || fail "our magnet link read back"
import json, subprocess, sys
j = json.loads(subprocess.check_output([sys.argv[1], "inspect", "--json", sys.argv[2]]))
mk = json.loads(subprocess.check_output([sys.argv[1], "inspect", "--json", "mk.torrent"]))
assert j["info_hash"] == mk["info_hash"] and j["name"] == "payload", j
assert j["trackers"] == ["http://t.example/announce", "udp://u.example:80"], j
PY
created=$("$CLI" create single.bin -t http://t.example/announce -o made.torrent --magnet 2>/dev/null)
[[ $created == "$("$CLI" inspect --json made.torrent | python3 -c 'import json,sys; print(json.load(sys.stdin)["magnet"])')" ]] \
  || fail "create --magnet: $created"
set +e
"$CLI" inspect "magnet:?xt=urn:btih:123" >stdout.txt 2>stderr.txt
rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "is not an info-hash" stderr.txt || fail "a bad magnet link: $rc $(cat stderr.txt)"

expect_refused() {  # file, pattern
  set +e
  "$CLI" inspect "$1" >stdout.txt 2>stderr.txt
  local rc=$?
  set -e
  [[ $rc -eq 2 ]] || fail "$1: exit $rc, wanted 2"
  [[ $(wc -l <stderr.txt) -eq 1 ]] || fail "$1: stderr not one line: $(cat stderr.txt)"
  grep -q -- "$2" stderr.txt || fail "$1: stderr lacks '$2': $(cat stderr.txt)"
  [[ ! -s stdout.txt ]] || fail "$1: printed to stdout"
}

printf 'd4:infod6:lengthi5e4:name2:..12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee' > traversal.torrent
expect_refused traversal.torrent 'escape the output folder'
printf 'd4:infod5:filesld6:lengthi5e4:pathl2:..6:passwdeee4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee' > traversal2.torrent
expect_refused traversal2.torrent 'file 0 path component 0'
head -c 100 mk.torrent > truncated.torrent
expect_refused truncated.torrent 'at byte'
printf 'not a torrent' > garbage.torrent
expect_refused garbage.torrent 'bencode'
expect_refused does-not-exist.torrent 'No such file'
expect_refused "$WORK" 'not a regular file'

set +e; "$CLI" inspect >/dev/null 2>&1; rc=$?; set -e
[[ $rc -eq 64 ]] || fail "usage exit $rc"
echo PASS
