#!/usr/bin/env bash
# The whole check, as CI runs it after deploy/setup.sh (the README's second
# set-up command):
#
#   normal  the whole test suite on build/ (what deploy/setup.sh built)
#   asan    clang with AddressSanitizer and UndefinedBehaviorSanitizer
#           (undefined behaviour fails) in build-asan/: the doctest suites,
#           whole nodes included
#   fuzz    the libFuzzer targets of tests/fuzz (same build), each for a
#           bounded time
#   tsan    gcc with ThreadSanitizer in build-tsan/: the suites whose code
#           runs on threads of its own (gRPC client and server, the HTTP
#           pool). gcc 12's runtime: clang 14's stops on an internal check
#           ("thr->slot != 0") in these suites.
#   container deploy/container-check.sh: the image built and run (the
#           embedded default, hardened), the compose file's local profile
#           with Prometheus and the dashboard's queries, deploy/k8s against
#           the Kubernetes API's types. Starts Debian's dockerd when no
#           engine runs (as root); CONTAINERS=skip passes it when none can.
#
#   deploy/check.sh                # every pass, in that order
#   deploy/check.sh asan fuzz      # only these
#   FUZZ_SECONDS=300 deploy/check.sh fuzz
#
# A sanitizer report in any process (the test binary or a node it starts)
# fails the pass: reports go to files (log_path) that are printed at the
# end of the pass. Each pass prints how long its build and its run took.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
jobs=$(nproc)
# Tests in parallel: most of them wait (on outages, timers, other
# processes), so more than one per core. Normal tests at 3 per core took
# 118 s against 278-302 s at one per core (2 cores); ASan's at 2 per core
# 185 s against 290-300 s.
test_jobs=${TEST_JOBS:-$((jobs * 3))}
asan_test_jobs=${TEST_JOBS:-$((jobs * 2))}
fuzz_seconds=${FUZZ_SECONDS:-60}
passes=("$@")
[ ${#passes[@]} -gt 0 ] || passes=(normal asan fuzz tsan container)

# -- the tests each sanitizer pass runs (ctest regexes on test names) --------

# ASan+UBSan: every test but the script tests and the two that measure
# memory (a node's resident set, the window's bound), which ASan's
# quarantine and shadow memory inflate.
asan_exclude='_test$|^http node: |^flow: three records of 1 MiB'

# TSan: the suites with threads of our own: the gRPC client's completion
# thread, the resolver's server and delay threads, the HTTP pool. Not the
# suites on Kafka: librdkafka starts its threads with C11 thrd_create,
# which gcc 12's TSan runtime does not intercept (nor clang 14's), and the
# first malloc on such a thread crashes the process; so no whole nodes
# either. Not the CAF suites: every report there is a message or an actor
# handed between threads inside libcaf_core, which TSan cannot see.
tsan_files='resolver;http'
tsan_tests='^(rpc_client|resolver|http): '
tsan_exclude='_test$|^http node: '

# -- helpers ------------------------------------------------------------------

say() { echo "check: $*"; }

# configure BUILD_DIR COMPILER [CMAKE ARGS...]: -O1 with file and line in
# stack traces.
configure() {
  local dir=$1 cxx=$2
  shift 2
  # CMake forgets every -D of the run that changes the compiler of an
  # existing build: start such a build afresh.
  if [ -f "$dir/CMakeCache.txt" ] && ! grep -qE \
       "^CMAKE_CXX_COMPILER:[A-Z]*=(.*/)?${cxx//+/\\+}\$" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  # (gcc: -g, whose inlined frames the suppressions of tests/tsan.supp
  # need to see; -g1 leaves them out.)
  local lines=-g
  [ "$cxx" = g++ ] || lines=-gline-tables-only
  cmake -S "$top" -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 $lines" "$@" >/dev/null
}

# Fails (and prints them) if sanitizer reports were written to DIR.
reports() {
  local dir=$1 name=$2
  if compgen -G "$dir/*" >/dev/null; then
    for f in "$dir"/*; do
      echo "---- $f"
      cat "$f"
    done
    say "$name: FAILED: sanitizer reports above"
    return 1
  fi
}

# A fresh directory for sanitizer reports.
report_dir() {
  rm -rf "$1"
  mkdir -p "$1"
}

# -- the passes -----------------------------------------------------------------

normal() {
  local t0=$SECONDS
  ctest --test-dir build --output-on-failure -j "$test_jobs" || return 1
  say "normal: tests $((SECONDS - t0)) s"
}

# Configures build dir $1 (compiler and CMake flags after it), builds the
# test binary and empties its sanitizer-reports directory.
sanitized_tests() {
  local dir=$1
  shift
  configure "$dir" "$@" || return 1
  cmake --build "$dir" -j "$jobs" --target rpcbatch-tests || return 1
  report_dir "$top/$dir/sanitizer-reports"
}

asan() {
  local dir=build-asan t0=$SECONDS
  sanitized_tests "$dir" clang++ -DSANITIZE=address -DFUZZ=ON || return 1
  local t1=$SECONDS logs=$top/$dir/sanitizer-reports status=0
  export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
  export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
  ctest --test-dir "$dir" --output-on-failure -j "$asan_test_jobs" -E "$asan_exclude" \
    || status=1
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
  reports "$logs" asan || status=1
  say "asan: build $((t1 - t0)) s, tests $((SECONDS - t1)) s"
  return $status
}

fuzz() {
  local dir=build-asan t0=$SECONDS
  configure "$dir" clang++ -DSANITIZE=address -DFUZZ=ON || return 1
  local targets=()
  for src in tests/fuzz/fuzz_*.cpp; do
    local name=${src#tests/fuzz/fuzz_}
    targets+=("rpcbatch-fuzz-${name%.cpp}")
  done
  cmake --build "$dir" -j "$jobs" --target "${targets[@]}" || return 1
  local t1=$SECONDS
  local work=$top/$dir/fuzz
  mkdir -p "$work"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1"
  local status=0
  for target in "${targets[@]}"; do
    local name=${target#rpcbatch-fuzz-}
    # New inputs go to a corpus of the build; the seeds are read only.
    mkdir -p "$work/corpus-$name"
    say "fuzz: $name for $fuzz_seconds s"
    if ! "$dir/bin/$target" -max_total_time="$fuzz_seconds" -timeout=10 \
         -rss_limit_mb=2048 -print_final_stats=1 \
         -artifact_prefix="$work/$name-" \
         "$work/corpus-$name" "tests/fuzz/corpus/$name" \
         >"$work/$name.log" 2>&1; then
      tail -n 60 "$work/$name.log"
      say "fuzz: $name FAILED (the input is $work/$name-crash-*)"
      status=1
    else
      grep -E '^stat::number_of_executed_units' "$work/$name.log" || true
    fi
  done
  unset UBSAN_OPTIONS ASAN_OPTIONS
  say "fuzz: build $((t1 - t0)) s, runs $((SECONDS - t1)) s"
  return $status
}

tsan() {
  local dir=build-tsan t0=$SECONDS
  sanitized_tests "$dir" g++ -DSANITIZE=thread "-DTEST_FILES=$tsan_files" \
    || return 1
  local t1=$SECONDS logs=$top/$dir/sanitizer-reports status=0
  export TSAN_OPTIONS="log_path=$logs/tsan:suppressions=$top/tests/tsan.supp:history_size=7:second_deadlock_stack=1"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" -R "$tsan_tests" \
    -E "$tsan_exclude" || status=1
  unset TSAN_OPTIONS
  reports "$logs" tsan || status=1
  say "tsan: build $((t1 - t0)) s, tests $((SECONDS - t1)) s"
  return $status
}

# The image's build and the containers' run, timed by the script itself
# (per step); this adds the split into build and run.
container() {
  local log=$top/build/container-check/check.log status=0
  mkdir -p "$(dirname "$log")"
  deploy/container-check.sh 2>&1 | tee "$log" || status=1
  # build: the base image and the images; run: the rest (engine included).
  local build run
  build=$(awk '/^container-check: == (base|build): .* s$/ { s += $(NF - 1) }
               END { printf "%.1f", s }' "$log")
  run=$(awk '/^container-check: == (engine|embedded|compose|k8s): .* s$/ {
               s += $(NF - 1) } END { printf "%.1f", s }' "$log")
  say "container: build $build s, run $run s"
  return $status
}

failed=()
for pass in "${passes[@]}"; do
  case $pass in
    normal | asan | fuzz | tsan | container) ;;
    *) echo "usage: $0 [normal|asan|fuzz|tsan|container]..." >&2; exit 2 ;;
  esac
  say "== $pass"
  t0=$SECONDS
  "$pass" || failed+=("$pass")
  say "== $pass: $((SECONDS - t0)) s"
done
if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]}"
  exit 1
fi
say "all passed: ${passes[*]}"
