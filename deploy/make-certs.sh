#!/usr/bin/env bash
# Makes the certificates for TLS on the nodes' CAF ports, with the openssl
# command, in DIR:
#
#   ca.pem, ca.key            a CA that signs only these certificates
#   node.pem, node.key        for every rpcbatch-node (server and client)
#   console.pem, console.key  for rpcbatch-console (client only)
#
#   deploy/make-certs.sh DIR          keeps what is there and still valid
#   deploy/make-certs.sh --force DIR  makes everything anew, a new CA too
#
# The CA lasts 5 years (CA_DAYS), the others 1 year (DAYS); a run reissues a
# certificate that is missing, not signed by the CA or expires within 30
# days, and never replaces an existing CA without --force. Keys are 0600.
# The nodes check only that a peer's certificate is signed by the CA, not its
# name: every holder of a certificate of this CA is a full cluster peer.
set -euo pipefail

force=false
[ "${1:-}" = --force ] && { force=true; shift; }
[ $# -eq 1 ] || { sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 2; }
dir=$1
ca_days=${CA_DAYS:-1825}
days=${DAYS:-365}
umask 077
# openssl with its chatter kept for a failure.
ssl() {
  local out
  out=$(openssl "$@" 2>&1) || { echo "$out" >&2; exit 1; }
}
mkdir -p "$dir"
cd "$dir"

if [ -e ca.pem ] || [ -e ca.key ]; then
  if $force; then
    rm -f ca.pem ca.key
  elif [ ! -e ca.pem ] || [ ! -e ca.key ]; then
    echo "make-certs: $dir has only one of ca.pem and ca.key; --force makes a new CA" >&2
    exit 1
  fi
fi
if [ ! -e ca.pem ]; then
  ssl req -x509 -newkey rsa:3072 -nodes -days "$ca_days" -sha256 \
    -subj "/CN=rpcbatch CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
  echo "made $dir/ca.pem, ca.key (CA, $ca_days days)"
else
  echo "kept $dir/ca.pem, ca.key ($(openssl x509 -in ca.pem -noout -enddate))"
fi

# issue NAME CN EXTENDED_KEY_USAGE
issue() {
  if ! $force && [ -e "$1.pem" ] && [ -e "$1.key" ] \
     && openssl verify -CAfile ca.pem "$1.pem" >/dev/null 2>&1 \
     && openssl x509 -in "$1.pem" -noout -checkend $((30 * 86400)) >/dev/null; then
    echo "kept $dir/$1.pem, $1.key ($(openssl x509 -in "$1.pem" -noout -enddate))"
    return
  fi
  ssl req -newkey rsa:3072 -nodes -subj "/CN=$2" -keyout "$1.key" \
    -out "$1.csr"
  ssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -days "$days" \
    -sha256 -set_serial "0x$(openssl rand -hex 16)" -out "$1.pem" \
    -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
                 "keyUsage=critical,digitalSignature,keyEncipherment" \
                 "extendedKeyUsage=$3")
  rm -f "$1.csr"
  echo "made $dir/$1.pem, $1.key ($2, $days days)"
}

issue node rpcbatch-node serverAuth,clientAuth
issue console rpcbatch-console clientAuth
chmod 0600 ca.key node.key console.key
chmod 0644 ca.pem node.pem console.pem
