#!/usr/bin/env bash
# Installs what rpcbatch needs on Debian 12 (bookworm), then configures and
# builds it into build/ (binaries in build/bin). Idempotent: packages already
# installed are skipped, an existing build is updated incrementally.
#
#   deploy/setup.sh              # packages + build
#   deploy/setup.sh --deps-only  # packages only (the Dockerfile's first stage)
#   BUILD_DIR=out SANITIZE=address deploy/setup.sh   # or thread (see
#                                # deploy/check.sh for the sanitizer passes)
#   TESTS=OFF deploy/setup.sh    # without the test suite and the packages
#                                # only its tests use (the Dockerfile)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$here/build}
tests=${TESTS:-ON}

packages=(
  build-essential cmake pkg-config ccache
  libcaf-dev librdkafka-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-json1.81-dev libcpp-httplib-dev libreadline-dev libmimalloc-dev
)
# The tests: doctest; kcat and Python gRPC for interoperability; openssl for
# TLS certificates; Compose and YAML to validate deploy/compose and
# deploy/k8s; clang with its sanitizer and libFuzzer runtimes (compiler-rt)
# and llvm-symbolizer for deploy/check.sh's sanitizer builds and fuzzers;
# the Docker engine, debootstrap (the base image without a registry) and the
# Kubernetes API's types for deploy/container-check.sh, and curl for its
# HTTP checks.
test_packages=(
  doctest-dev
  kcat openssl python3 python3-grpcio python3-grpc-tools
  docker-compose python3-yaml
  clang libclang-rt-dev llvm
  docker.io debootstrap python3-kubernetes curl
)
[ "$tests" = OFF ] || packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi
[ "${1:-}" = "--deps-only" ] && exit 0

cmake -S "$here" -B "$build_dir" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} \
  -DSANITIZE=${SANITIZE:-OFF} -DRPCBATCH_TESTS="$tests" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
echo "setup: built into $build_dir/bin"
