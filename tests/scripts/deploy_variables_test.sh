#!/usr/bin/env bash
# Every RPCBATCH_* variable that deploy/ sets (compose files, Kubernetes
# manifests, the example config) names an option of rpcbatch-node: NAME in
# lower case with '_' as '-' (or CATEGORY.NAME), as its --long-help lists
# it. RPCBATCH_KAFKA_* are librdkafka properties and pass through. And no
# shipped file turns on plain CAF links beyond loopback (allow-plain-links):
# they use TLS.
# Usage: deploy_variables_test.sh BIN_DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
help=$("$1/rpcbatch-node" --long-help 2>&1)

names=$(grep -ohE "RPCBATCH_[A-Z0-9_]+:|RPCBATCH_[A-Z0-9_]+=|name: RPCBATCH_[A-Z0-9_]+" \
          "$top"/deploy/compose/*.yaml "$top"/deploy/k8s/*.yaml \
        | grep -oE "RPCBATCH_[A-Z0-9_]+" | sort -u)
[ -n "$names" ] || { echo "FAIL: no RPCBATCH_ variable found in deploy/"; exit 1; }

failed=0
for var in $names; do
  case $var in RPCBATCH_KAFKA_*) continue ;; esac
  name=$(echo "${var#RPCBATCH_}" | tr 'A-Z_' 'a-z-')
  dotted=${name/-/.}
  if grep -qE -- "--$name[=< ]" <<<"$help"; then
    echo "ok: $var is --$name"
  elif grep -qE -- "--$dotted[=< ]" <<<"$help"; then
    echo "ok: $var is --$dotted"
  else
    echo "FAIL: $var names no option of rpcbatch-node"
    failed=1
  fi
done

plain=$(grep -nHiE "^[^#;]*allow[-_]plain[-_]links" "$top"/deploy/compose/*.yaml \
          "$top"/deploy/k8s/*.yaml "$top"/deploy/rpcbatch.conf || true)
if [ -n "$plain" ]; then
  echo "FAIL: deploy/ allows plain CAF links beyond loopback; use TLS:"
  echo "$plain"
  failed=1
else
  echo "ok: no shipped file sets allow-plain-links"
fi
exit $failed
