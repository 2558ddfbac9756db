#!/usr/bin/env bash
# Profiles the node on a backlog: an embedded broker and a resolver of their
# own, --lines of generated text, then the node (--bounded) under
# `perf record`; prints where its CPU went by library and the top symbols,
# and leaves the profile for `perf report -i`.
#
#   tests/bench/profile-node.sh [--lines=N] [--out=FILE] [-- NODE OPTIONS]
#   tests/bench/profile-node.sh --lines=20000 -- --batch-size=10
#
# NODE (default build/bin/rpcbatch-node) is taken from $NODE; PERF=0 runs it
# without perf (for its summary: words, seconds, calls, peak RSS). The broker and
# the resolver run in processes of their own, so that the profile holds the
# node alone.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BIN:-$top/build/bin}
node=${NODE:-$bin/rpcbatch-node}
lines=20000
out=/tmp/rpcbatch-node.perf
while [ $# -gt 0 ]; do
  case $1 in
    --lines=*) lines=${1#--lines=} ;;
    --out=*) out=${1#--out=} ;;
    --) shift; break ;;
    *) echo "usage: $0 [--lines=N] [--out=FILE] [-- NODE OPTIONS]" >&2; exit 2 ;;
  esac
  shift
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/rpcbatch-broker" --brokers=1 --topics=input-topic:24,out:12,dlq:3 \
  --bootstrap-file="$work/bootstrap" >"$work/broker.out" 2>&1 &
pids+=($!)
"$bin/rpcbatch-resolver" --listen=127.0.0.1:0 >"$work/resolver.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  [ -s "$work/bootstrap" ] && grep -q "listening on" "$work/resolver.out" \
    && break
  sleep 0.1
done
bootstrap=$(cat "$work/bootstrap")
target=$(grep -o "listening on [^ ]*" "$work/resolver.out" | awk '{print $3}')
"$bin/rpcbatch-textgen" --bootstrap-servers="$bootstrap" --delay-seconds=0 \
  --count="$lines" --seed=7 --quiet >/dev/null

record=(perf record -F 1999 -g -o "$out" --)
[ "${PERF:-1}" = 0 ] && record=()
"${record[@]}" "$node" --bootstrap-servers="$bootstrap" \
  --rpc-target="$target" --group-id=profile --output-topic=out \
  --dlq-topic=dlq --bounded --offset-reset=earliest --stats-secs=0 \
  --log-level=${LOG_LEVEL:-warn} "$@" >"$work/node.out" 2>"$work/node.err" \
  || { cat "$work/node.err" >&2; exit 1; }
cp "$work/node.err" "$out.log"
grep -o '"\(words\|active_seconds\|rpc_calls\|peak_rss_mb\)":[0-9.eE+-]*' \
  "$work/node.out" | tail -4 | tr '\n' ' '
echo "(log: $out.log)"
[ "${PERF:-1}" = 0 ] && exit 0
echo "== by library (self)"
perf report -i "$out" --no-children --sort dso --stdio 2>/dev/null \
  | grep -E '^ +[0-9]' | head -15
echo "== top symbols (self)"
perf report -i "$out" --no-children --sort dso,sym --stdio 2>/dev/null \
  | grep -E '^ +[0-9]' | head -40
