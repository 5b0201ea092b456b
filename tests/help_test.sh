#!/usr/bin/env bash
# `--help` of every binary lists its flags, one entry each: each service's flags from its
# main.cc (abseil lists none by default: "No flags matched"), and each swarm-cli command's
# options on stdout with exit status 0.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }

# binary, then every flag its main.cc defines.
check_service() {
  local bin=$1; shift
  local out
  out=$("$bin" --help 2>&1) || true  # abseil exits 1 after --help
  grep -q "No flags matched" <<<"$out" && fail "$bin --help lists no flags"
  for flag in "$@"; do
    grep -q -- "--$flag (" <<<"$out" || fail "$bin --help does not list --$flag: $out"
  done
}
SECURITY=(auth_token_file tls_cert tls_key tls_ca tls_require_client_cert tls_server_name)
check_service coordinator/coordinator listen tracker_svc output_root "${SECURITY[@]}"
check_service tracker_svc/tracker_svc listen "${SECURITY[@]}"
check_service peer_svc/peer_svc coordinator max_peers bind_ip listen_ip listen_port upload_slots piece_memory_mib \
  name "${SECURITY[@]}"

# command, then options its usage must list.
check_command() {
  local command=$1; shift
  local out
  out=$(cli/swarm-cli "$command" --help) || fail "swarm-cli $command --help exits $?"
  grep -q "^usage: swarm-cli $command" <<<"$out" || fail "swarm-cli $command --help: $out"
  for option in "$@"; do
    grep -q -- "$option" <<<"$out" || fail "swarm-cli $command --help does not list $option"
  done
  [[ $(cli/swarm-cli "$command" -h) == "$out" ]] || fail "swarm-cli $command -h differs"
}
JOB=(--workers --coordinator --auth-token-file --tls-ca --tls-cert --tls-key --tls-server-name --bind-ip --announce-interval --overwrite --save-torrent --verbose
  --help)
check_command download --output --seed "${JOB[@]}"
check_command seed "${JOB[@]}"
check_command create --tracker --piece-length --private --comment "-o FILE" --magnet --help
check_command inspect --json --help
check_command demo --size-mib --keep --help
cli/swarm-cli --help | grep -q "COMMAND --help" || fail "swarm-cli --help"
echo "PASS"
