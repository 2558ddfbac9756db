#!/usr/bin/env bash
# rpcbatch-broker and rpcbatch-textgen as processes, checked with kcat:
# kcat writes 3 messages, textgen 20, all 23 are read back; SIGTERM stops
# the broker with exit code 0; started again with --ports of the stopped one
# it is at the same address with the same topics, empty. Usage:
# broker_tools_test.sh BIN_DIR
set -euo pipefail

bin=${1:?usage: $0 BIN_DIR}
work=$(mktemp -d)
broker_pid=""

cleanup() {
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -KILL "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/scripts/script_lib.sh
. "$(dirname "$0")/script_lib.sh"

"$bin/rpcbatch-broker" --brokers=3 --topics=input-topic:3,other:2 \
  --bootstrap-file="$work/bootstrap" >"$work/broker.out" 2>"$work/broker.log" &
broker_pid=$!

await 100 test -s "$work/broker.out" || fail "broker printed nothing in 10 s"
first=$(head -n 1 "$work/broker.out")
case $first in
  bootstrap=127.0.0.1:*) boot=${first#bootstrap=} ;;
  *) fail "unexpected first line: $first" ;;
esac
[ "$(cat "$work/bootstrap")" = "$boot" ] || fail "bootstrap file differs"
echo "broker at $boot"

printf 'one\ntwo\nthree\n' | timeout 30 kcat -b "$boot" -P -t input-topic \
  || fail "kcat could not produce"
got=$(timeout 30 kcat -b "$boot" -C -t input-topic -o beginning -c 3 -e -q \
  | sort | tr '\n' ' ')
[ "$got" = "one three two " ] || fail "kcat read back '$got'"

"$bin/rpcbatch-textgen" --bootstrap-servers="$boot" --count=20 \
  --delay-seconds=0 --seed=1 >"$work/textgen.out" 2>"$work/textgen.log" \
  || fail "textgen failed"
grep -q '^sent 20 messages to input-topic$' "$work/textgen.out" \
  || fail "textgen printed: $(cat "$work/textgen.out")"

# One line per message whatever the text holds: partition and offset.
count=$(timeout 30 kcat -b "$boot" -C -t input-topic -o beginning -e -q \
  -f '%p:%o\n' | wc -l)
[ "$count" -eq 23 ] || fail "expected 23 messages, found $count"

partitions=$(timeout 30 kcat -b "$boot" -L -t other | grep -c 'partition ')
[ "$partitions" -eq 2 ] || fail "topic other has $partitions partitions"

if timeout 20 "$bin/rpcbatch-textgen" --bootstrap-servers=127.0.0.1:1 \
  --count=1 >/dev/null 2>"$work/unreachable.log"; then
  fail "textgen succeeded without a broker"
fi
grep -q 'cannot reach Kafka' "$work/unreachable.log" \
  || fail "no clear message for an unreachable broker"

# librdkafka properties reach the producer, as the node's do: from the
# command line and from RPCBATCH_KAFKA_ variables.
RPCBATCH_KAFKA_COMPRESSION_TYPE=lz4 "$bin/rpcbatch-textgen" \
  --bootstrap-servers="$boot" --topic=other --count=3 --delay-seconds=0 \
  --kafka.client.id=textgen-test >"$work/props.out" 2>"$work/props.log" \
  || fail "textgen with librdkafka properties failed: $(cat "$work/props.log")"
grep -q '^sent 3 messages to other$' "$work/props.out" \
  || fail "textgen with properties printed: $(cat "$work/props.out")"
rc=0
"$bin/rpcbatch-textgen" --bootstrap-servers="$boot" --count=1 \
  --kafka.no.such.property=1 >/dev/null 2>"$work/bad-prop.log" || rc=$?
[ "$rc" -eq 1 ] || fail "textgen with an unknown property exited $rc"
grep -q 'no.such.property' "$work/bad-prop.log" \
  || fail "no message naming the unknown property: $(cat "$work/bad-prop.log")"

kill -TERM "$broker_pid"
await 100 eval '! kill -0 "$broker_pid" 2>/dev/null' \
  || fail "broker still running 10 s after SIGTERM"
rc=0
wait "$broker_pid" || rc=$?
broker_pid=""
[ "$rc" -eq 0 ] || fail "broker exited with $rc"
[ ! -e "$work/bootstrap" ] || fail "broker left its bootstrap file behind"

# The same address again: --ports takes the stopped broker's ports.
ports=$(echo "$boot" | tr ',' '\n' | sed 's/.*://' | paste -sd, -)
"$bin/rpcbatch-broker" --brokers=3 --topics=input-topic:3,other:2 \
  --ports="$ports" >"$work/broker2.out" 2>"$work/broker2.log" &
broker_pid=$!
await 100 test -s "$work/broker2.out" || fail "restarted broker printed nothing"
[ "$(head -n 1 "$work/broker2.out")" = "bootstrap=$boot" ] \
  || fail "restarted broker at $(head -n 1 "$work/broker2.out"), not $boot"
timeout 30 kcat -b "$boot" -L -t other | grep -q 'with 2 partitions' \
  || fail "no topic other with 2 partitions after the restart"
count=$(timeout 30 kcat -b "$boot" -C -t input-topic -o beginning -e -q | wc -l)
[ "$count" -eq 0 ] || fail "the restarted broker holds $count old message(s)"
printf 'again\n' | timeout 30 kcat -b "$boot" -P -t input-topic \
  || fail "kcat could not produce to the restarted broker"
got=$(timeout 30 kcat -b "$boot" -C -t input-topic -o beginning -c 1 -e -q)
[ "$got" = "again" ] || fail "the restarted broker gave back '$got'"
kill -TERM "$broker_pid"
rc=0
wait "$broker_pid" || rc=$?
broker_pid=""
[ "$rc" -eq 0 ] || fail "restarted broker exited with $rc"
rc=0
"$bin/rpcbatch-broker" --brokers=3 --ports=1,2 >/dev/null \
  2>"$work/bad-ports.log" || rc=$?
[ "$rc" -eq 2 ] || fail "rpcbatch-broker with 2 ports for 3 brokers exited $rc"
grep -q -- '--ports' "$work/bad-ports.log" || fail "no message naming --ports"

# deploy/local-up.sh -k and local-down.sh -k around the same binaries.
deploy=$(cd "$(dirname "$0")/../../deploy" && pwd)
export BIN_DIR=$bin RUN_DIR=$work/run
timeout 60 "$deploy/local-up.sh" -k >"$work/up.log" 2>&1 \
  || fail "local-up.sh -k failed: $(cat "$work/up.log")"
broker_pid=$(cat "$RUN_DIR/broker.pid")
boot=$(cat "$RUN_DIR/bootstrap")
grep -qF "export BOOTSTRAP=$boot" "$work/up.log" \
  || fail "local-up.sh did not print the bootstrap string"
timeout 30 kcat -b "$boot" -L -t input-topic | grep -q 'with 3 partitions' \
  || fail "no input-topic with 3 partitions after local-up.sh"
timeout 60 "$deploy/local-down.sh" -k >"$work/down.log" 2>&1 \
  || fail "local-down.sh -k failed: $(cat "$work/down.log")"
! kill -0 "$broker_pid" 2>/dev/null || fail "local-down.sh left the broker"
broker_pid=""
[ ! -e "$RUN_DIR/broker.pid" ] || fail "local-down.sh left the PID file"
echo "PASS"
