#!/usr/bin/env bash
# The layers run one way: messages/ (the protocol) <- actors/adapters/
# (Kafka, gRPC, logging, addresses) <- actors/ <- services/ (what the
# binaries run besides actors: the RpcService server, the embedded broker,
# the text generator, environment and secrets) <- services/app/ (the
# programs' wiring) <- services/bin/ (thin main()s).
# Each layer includes only the layers to its left (and the generated
# proto/ code); this test fails, naming the file and the include, where one
# reaches to its right.
# Usage: layers_test.sh BIN_DIR
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

bad=0
# check FILES... -- FORBIDDEN PREFIXES...
check() {
  local files=() forbidden=()
  while [ "$1" != -- ]; do files+=("$1"); shift; done
  shift
  forbidden=("$@")
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    for prefix in "${forbidden[@]}"; do
      if grep -nE "^#include \"$prefix" "$f"; then
        echo "FAIL: $f includes $prefix (a layer above it)" >&2
        bad=1
      fi
    done
  done
}

shopt -s nullglob
check messages/*.hpp messages/*.cpp -- actors/ services/
# An adapter includes no actor (actors/ but actors/adapters/).
check actors/adapters/*.hpp actors/adapters/*.cpp -- "actors/[a-z_]*\.hpp" \
  services/
check actors/*.hpp actors/*.cpp -- services/
check services/*.hpp services/*.cpp -- services/app/ services/bin/
check services/app/*.hpp services/app/*.cpp -- services/bin/
[ "$bad" -eq 0 ] || exit 1
echo "layers_test: ok"
