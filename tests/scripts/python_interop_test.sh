#!/usr/bin/env bash
# Interoperability with Python gRPC, the seed's language: Python stubs
# generated independently from proto/service.proto call rpcbatch-resolver.
#
# usage: python_interop_test.sh BIN_DIR
#
# Needs Debian 12's python3-grpcio and python3-grpc-tools. Their protoc emits
# old-style Python code (descriptors built directly), which the C++ backend
# of Debian's python3-protobuf accepts but newer upb backends reject; the pure
# Python backend accepts it everywhere, so the script selects that one.
set -euo pipefail

bin_dir=${1:?usage: $0 BIN_DIR}
src_dir=$(cd "$(dirname "$0")/../.." && pwd)
python=/usr/bin/python3
export PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python

work=$(mktemp -d)
resolver_pid=
cleanup() {
  if [[ -n $resolver_pid ]] && kill -0 "$resolver_pid" 2>/dev/null; then
    kill -KILL "$resolver_pid"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "python_interop_test: $*" >&2
  if [[ -f $work/resolver.err ]]; then
    sed 's/^/resolver stderr: /' "$work/resolver.err" >&2
  fi
  exit 1
}

"$python" -m grpc_tools.protoc -I "$src_dir/proto" --python_out="$work" \
  --grpc_python_out="$work" "$src_dir/proto/service.proto"

# The resolver's stdout comes through a FIFO: read blocks until a line is
# there, so no polling is needed.
mkfifo "$work/resolver.out"
"$bin_dir/rpcbatch-resolver" --listen=127.0.0.1:0 --verbose \
  >"$work/resolver.out" 2>"$work/resolver.err" &
resolver_pid=$!
exec 3<"$work/resolver.out"
read -r -t 10 -u 3 line || fail "no listening line from rpcbatch-resolver"
[[ $line =~ ^rpcbatch-resolver\ listening\ on\ (127\.0\.0\.1:[0-9]+)$ ]] \
  || fail "unexpected first line: '$line'"
address=${BASH_REMATCH[1]}

PYTHONPATH=$work "$python" - "$address" <<'EOF' || fail "Python client failed"
import sys

import grpc
import service_pb2
import service_pb2_grpc

with grpc.insecure_channel(sys.argv[1]) as channel:
    stub = service_pb2_grpc.RpcServiceStub(channel)
    answer = stub.resolve(service_pb2.Request(input="Hello"), timeout=10)
    if answer.output != 5:
        sys.exit(f"resolve('Hello') = {answer.output}, expected 5")
    words = "Beautiful is better than ugly".split(" ")
    request = service_pb2.RequestList(
        request=[service_pb2.Request(input=w) for w in words])
    answers = stub.resolveBatch(request, timeout=10).response
    lengths = [r.output for r in answers]
    if lengths != [9, 2, 6, 4, 4]:
        sys.exit(f"resolveBatch = {lengths}, expected [9, 2, 6, 4, 4]")
    print("Python client:", list(zip(words, lengths)))
EOF

kill -TERM "$resolver_pid"
status=0
wait "$resolver_pid" || status=$?
resolver_pid=
[[ $status -eq 0 ]] || fail "rpcbatch-resolver exited with $status"
read -r -t 10 -u 3 line || fail "no summary line"
expected="resolver summary: resolve_calls=1 resolve_batch_calls=1 inputs=6"
expected+=" failed_calls=0 rejected_calls=0"
[[ $line == "$expected" ]] || fail "summary '$line', expected '$expected'"
grep -q "resolve: Hello -> 5" "$work/resolver.err" \
  || fail "verbose log lacks the resolve call"
echo "python_interop_test: ok"
