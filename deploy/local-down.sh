#!/usr/bin/env bash
# Stops what deploy/local-up.sh started (the seed's stop-flink-env.sh):
#
#   deploy/local-down.sh        everything (default)
#   deploy/local-down.sh -k     the embedded Kafka only
#   deploy/local-down.sh -g     the resolver only
#
# Only the recorded PIDs are signalled, and only while /proc/PID/cmdline
# still names the program that was started. Same RUN_DIR as local-up.sh.
exec "$(dirname "${BASH_SOURCE[0]}")/local-up.sh" --stop "$@"
