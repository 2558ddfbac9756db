#!/usr/bin/env bash
# The folders are the architecture, and their includes run one way:
#
#   messages/                the protocol: types, atoms, interfaces
#   services/config/         addresses, environment, secrets, program runner
#   services/adapters/       Kafka consumer and producer, gRPC client, logging
#   actors/observe/          status, events, inspector, console, metrics, HTTP
#   actors/pipeline/         source, tokenizer, router, batcher, rpc-caller,
#                            sink, the node that wires them, their helpers
#   actors/cluster/          batcher nodes: cluster, links, hosts, buckets
#   services/tools/          RpcService server, text generator, broker
#   services/programs/       each program's wiring; bin/ its main()
#
# A folder includes only the folders above it in this list (and the
# generated proto/ code); services/tools/ includes no actor. Observation
# owns no adapter of the outside world but the log: it reaches the consumer
# and the producer only through the actors that own them.
# This test fails, naming the file and the include, where one breaks that.
# Usage: layers_test.sh BIN_DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

bad=0
# check FOLDER -- FORBIDDEN PREFIXES...
check() {
  local folder=$1 forbidden=()
  shift 2
  forbidden=("$@")
  local files=("$folder"/*.hpp "$folder"/*.cpp)
  if [ "${#files[@]}" -eq 0 ]; then
    echo "FAIL: $folder holds no source file (the layers moved?)" >&2
    bad=1
  fi
  for f in "${files[@]}"; do
    for prefix in "${forbidden[@]}"; do
      if grep -nE "^#include \"$prefix" "$f"; then
        echo "FAIL: $f includes $prefix (a layer above it)" >&2
        bad=1
      fi
    done
  done
}

shopt -s nullglob
check messages -- actors/ services/
check services/config -- actors/ services/adapters/ services/tools/ \
  services/programs/ services/adapters/kafka services/adapters/rpc_client
check services/adapters -- actors/ services/tools/ services/programs/
check actors/observe -- actors/pipeline/ actors/cluster/ services/tools/ \
  services/programs/ services/adapters/kafka services/adapters/rpc_client
check actors/pipeline -- actors/cluster/ services/tools/ services/programs/
check actors/cluster -- services/tools/ services/programs/
check services/tools -- actors/ services/programs/
check services/programs -- services/programs/bin/
[ "$bad" -eq 0 ] || exit 1
echo "layers_test: ok"
