#!/usr/bin/env bash
# Starts the local development environment natively on loopback, in the
# background (the seed's setup/start-flink-env.sh, without Docker):
#
#   deploy/local-up.sh -k    embedded Kafka (rpcbatch-broker)
#   deploy/local-up.sh -g    the RpcService server (rpcbatch-resolver)
#   deploy/local-up.sh -a    both (also the default)
#   deploy/local-down.sh     stops them again (same flags)
#
# PIDs, logs and the Kafka bootstrap string go to RUN_DIR. Environment:
#   BIN_DIR          binaries (default build/bin)
#   RUN_DIR          run directory (default run)
#   BROKERS          brokers in the embedded cluster (default 3)
#   TOPICS           topics to create (input-topic:3,rpc-pardo-stateful:3,
#                    rpc-pardo-stateful-dlq:3)
#   RESOLVER_LISTEN  resolver address (default 127.0.0.1:50051)
# Relative paths are taken from the repository top.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin_dir=${BIN_DIR:-build/bin}
run_dir=${RUN_DIR:-run}
[[ $bin_dir = /* ]] || bin_dir=$top/$bin_dir
[[ $run_dir = /* ]] || run_dir=$top/$run_dir
brokers=${BROKERS:-3}
topics=${TOPICS:-input-topic:3,rpc-pardo-stateful:3,rpc-pardo-stateful-dlq:3}
resolver_listen=${RESOLVER_LISTEN:-127.0.0.1:50051}
ready_timeout=15 # seconds

usage() {
  sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
  echo "local-up: $*" >&2
  exit 1
}

action=start
kafka=false
grpc=false
while [ $# -gt 0 ]; do
  case $1 in
    -k|--kafka) kafka=true ;;
    -g|--grpc) grpc=true ;;
    -a|--all) kafka=true; grpc=true ;;
    --stop) action=stop ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if ! $kafka && ! $grpc; then
  kafka=true
  grpc=true
fi

# The PID recorded for service $1 if that process still runs program $2
# (checked against /proc/PID/cmdline, so that a reused PID is never hit);
# fails otherwise.
live_pid() {
  local pidfile=$run_dir/$1.pid pid argv0
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  argv0=$({ tr '\0' '\n' <"/proc/$pid/cmdline"; } 2>/dev/null | head -n 1)
  [ "$(basename -- "$argv0")" = "$2" ] || return 1
  echo "$pid"
}

require_binary() {
  [ -x "$bin_dir/$1" ] || die "$bin_dir/$1 does not exist; build it first:
  cmake -S $top -B $top/build && cmake --build $top/build --target $1"
}

# Starts service $1 running program $2 with the remaining arguments, then
# waits until `$1_ready` succeeds.
start() {
  local name=$1 prog=$2 pid
  shift 2
  if pid=$(live_pid "$name" "$prog"); then
    echo "$name already running (pid $pid)"
    return
  fi
  nohup "$bin_dir/$prog" "$@" >"$run_dir/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$run_dir/$name.pid"
  for _ in $(seq $((ready_timeout * 10))); do
    "${name}_ready" && { echo "$name started (pid $pid)"; return; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
  rm -f "$run_dir/$name.pid"
  tail -n 20 "$run_dir/$name.log" >&2
  die "$name did not become ready within ${ready_timeout} s (log above)"
}

broker_ready() {
  [ -s "$run_dir/bootstrap" ]
}

resolver_ready() {
  local host=${resolver_listen%:*} port=${resolver_listen##*:}
  grep -q 'rpcbatch-resolver listening on' "$run_dir/resolver.log" \
    || (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# Sends SIGTERM to service $1 if it still runs program $2, waits up to 10 s
# (then SIGKILL), and removes its PID file.
stop() {
  local name=$1 prog=$2 pid
  if ! pid=$(live_pid "$name" "$prog"); then
    [ -f "$run_dir/$name.pid" ] && echo "$name: stale PID file removed" \
      || echo "$name not running"
    rm -f "$run_dir/$name.pid"
    return
  fi
  kill -TERM "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid"
  fi
  rm -f "$run_dir/$name.pid"
  echo "$name stopped (pid $pid)"
}

print_usage_hints() {
  echo
  if $kafka; then
    local boot
    boot=$(cat "$run_dir/bootstrap")
    cat <<EOF
Kafka (embedded, $brokers brokers, in memory, ~5 MiB per partition):
  export BOOTSTRAP=$boot
  kcat -b "\$BOOTSTRAP" -L
  echo "hello kafka world" | kcat -b "\$BOOTSTRAP" -P -t input-topic
  kcat -b "\$BOOTSTRAP" -C -t input-topic -o beginning -e
  kcat -b "\$BOOTSTRAP" -C -t rpc-pardo-stateful -o beginning -f '%k %s\\n'
  $bin_dir/rpcbatch-textgen --bootstrap-servers="\$BOOTSTRAP" \\
    --topic=input-topic --delay-seconds=1
EOF
  fi
  $grpc && echo "Resolver (RpcService): $resolver_listen"
  echo "Logs in $run_dir; stop with: $top/deploy/local-down.sh"
}

if [ "$action" = stop ]; then
  $grpc && stop resolver rpcbatch-resolver
  if $kafka; then
    stop broker rpcbatch-broker
    rm -f "$run_dir/bootstrap"
  fi
  exit 0
fi

# Check everything before starting anything.
$kafka && require_binary rpcbatch-broker
$grpc && require_binary rpcbatch-resolver
mkdir -p "$run_dir"
if $kafka; then
  live_pid broker rpcbatch-broker >/dev/null || rm -f "$run_dir/bootstrap"
  start broker rpcbatch-broker --brokers="$brokers" --topics="$topics" \
    --bootstrap-file="$run_dir/bootstrap"
fi
$grpc && start resolver rpcbatch-resolver --listen="$resolver_listen"
print_usage_hints
