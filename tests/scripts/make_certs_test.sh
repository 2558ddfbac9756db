#!/usr/bin/env bash
# deploy/make-certs.sh: the CA signs the node and operator certificates
# (`openssl verify -CAfile ca.pem`), the node's for TLS servers and clients,
# the operator's for clients only; keys are 0600. A second run keeps every
# file, a run without ca.key refuses to make a new CA unless --force, and a
# run reissues certificates that expire within 30 days. Then the real
# programs: a node with the node certificate serves rpcbatch-console with
# the operator certificate, and refuses it without one.
# Usage: make_certs_test.sh BIN_DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$1
work=$(mktemp -d)
node_pid=
cleanup() {
  [ -z "$node_pid" ] || kill "$node_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }
make_certs() { "$top/deploy/make-certs.sh" "$@"; }
d=$work/certs

make_certs "$d"
for name in node console; do
  openssl verify -CAfile "$d/ca.pem" "$d/$name.pem" \
    || fail "$name.pem is not signed by ca.pem"
  openssl verify -CAfile "$d/ca.pem" -purpose sslclient "$d/$name.pem" >/dev/null \
    || fail "$name.pem is no TLS client certificate"
done
openssl verify -CAfile "$d/ca.pem" -purpose sslserver "$d/node.pem" >/dev/null \
  || fail "node.pem is no TLS server certificate"
openssl verify -CAfile "$d/ca.pem" -purpose sslserver "$d/console.pem" >/dev/null 2>&1 \
  && fail "console.pem serves TLS: it should be a client certificate only"
openssl x509 -in "$d/ca.pem" -noout -text | grep -q "CA:TRUE" \
  || fail "ca.pem is not a CA"
openssl x509 -in "$d/node.pem" -noout -checkend $((400 * 86400)) >/dev/null \
  && fail "node.pem lasts longer than 400 days"
for key in ca node console; do
  mode=$(stat -c %a "$d/$key.key")
  [ "$mode" = 600 ] || fail "$key.key has mode $mode, not 600"
  openssl pkey -in "$d/$key.key" -noout || fail "$key.key is no private key"
done

sums=$(cd "$d" && sha256sum ./*)
out=$(make_certs "$d")
[ "$sums" = "$(cd "$d" && sha256sum ./*)" ] || fail "a second run changed files: $out"
grep -q "^kept .*ca.pem" <<<"$out" || fail "a second run does not say it kept the CA: $out"

mv "$d/ca.key" "$work/ca.key"
make_certs "$d" >/dev/null 2>&1 && fail "a run without ca.key made a new CA"
grep -q "$(sha256sum "$d/ca.pem" | cut -c1-64)" <<<"$sums" \
  || fail "a refused run touched ca.pem"
DAYS=10 make_certs --force "$d" >/dev/null
grep -q "$(sha256sum "$d/ca.pem" | cut -c1-64)" <<<"$sums" \
  && fail "--force kept the old CA"
out=$(make_certs "$d")
grep -q "^made .*node.pem" <<<"$out" && grep -q "^made .*console.pem" <<<"$out" \
  && grep -q "^kept .*ca.pem" <<<"$out" \
  || fail "certificates expiring within 30 days were not reissued: $out"
openssl verify -CAfile "$d/ca.pem" "$d/node.pem" "$d/console.pem" >/dev/null \
  || fail "reissued certificates are not signed by the CA"

# The programs: a batcher node with TLS on 0.0.0.0 (refused without it),
# the console with the operator certificate.
node_tls=(--openssl.certificate="$d/node.pem" --openssl.key="$d/node.key"
          --openssl.cafile="$d/ca.pem")
console_tls=(--openssl.certificate="$d/console.pem" --openssl.key="$d/console.key"
             --openssl.cafile="$d/ca.pem")
"$bin/rpcbatch-node" --role=batcher --listen=0.0.0.0:0 --rpc-target=127.0.0.1:1 \
  --console-port=0 --console-host=127.0.0.1 "${node_tls[@]}" \
  >"$work/node.out" 2>&1 &
node_pid=$!
port=
for _ in $(seq 300); do
  port=$(sed -nE 's/.*console listening on 127\.0\.0\.1:([0-9]+) \(TLS\).*/\1/p' "$work/node.out")
  [ -n "$port" ] && break
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  fail "the node did not listen with TLS: $(cat "$work/node.out")"
else
  grep -q "batcher listening on 0.0.0.0:[0-9]* (TLS)" "$work/node.out" \
    || fail "the node link does not speak TLS: $(cat "$work/node.out")"
  "$bin/rpcbatch-console" --connect="127.0.0.1:$port" "${console_tls[@]}" --json nodes \
    >"$work/console.out" 2>&1 \
    || fail "the console with console.pem cannot reach the node: $(cat "$work/console.out")"
  grep -q '"role":"batcher"' "$work/console.out" \
    || fail "the console got no answer: $(cat "$work/console.out")"
  "$bin/rpcbatch-console" --connect="127.0.0.1:$port" nodes >/dev/null 2>&1 \
    && fail "the console without a certificate reached the node"
fi

[ $failed -eq 0 ] && echo "make-certs: CA, node and console certificates as expected"
exit $failed
