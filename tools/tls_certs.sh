#!/bin/sh
# Makes a private CA and certificates for a swarm cluster, with openssl:
#
#   tools/tls_certs.sh DIR [SUBJECT_ALT_NAMES]
#
#   DIR/ca.pem                  the CA: every process's --tls_ca (swarm-cli: --tls-ca)
#   DIR/ca.key                  the CA's key: signs more certificates; keep it off the cluster
#   DIR/server.pem, server.key  for processes that serve (coordinator, tracker_svc, peer_svc;
#                               --tls_cert/--tls_key); good as a client certificate too
#   DIR/client.pem, client.key  for swarm-cli (--tls-cert/--tls-key), when the servers
#                               require client certificates
#
# SUBJECT_ALT_NAMES lists what the servers are dialled as (default
# "DNS:swarm,DNS:localhost,IP:127.0.0.1"): add each host's address, e.g.
# "DNS:swarm,IP:10.0.0.1,IP:10.0.0.2", or keep "DNS:swarm" and give every client
# --tls_server_name=swarm (swarm-cli: --tls-server-name=swarm).
set -eu
dir=$1
san=${2:-DNS:swarm,DNS:localhost,IP:127.0.0.1}
mkdir -p "$dir"
cd "$dir"
umask 077
key="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $key -keyout ca.key -out ca.pem -days 3650 -subj "/CN=swarm cluster CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >server.ext
printf 'extendedKeyUsage=clientAuth\n' >client.ext
for who in server client; do
  openssl req $key -keyout $who.key -out $who.csr -subj "/CN=swarm $who" 2>/dev/null
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -extfile $who.ext -out $who.pem 2>/dev/null
done
rm -f server.csr client.csr server.ext client.ext ca.srl
chmod 644 ca.pem server.pem client.pem
