# The rpcbatch image: every binary in /usr/local/bin, rpcbatch-node as the
# entrypoint (the others by --entrypoint), on Debian 12 packages only.
#
#   docker build -t rpcbatch .        (DOCKER_BUILDKIT=1 with docker 20.10)
#   docker run --rm rpcbatch --help
#   docker run --rm --entrypoint rpcbatch-resolver rpcbatch --listen=0.0.0.0:50051
#
# The build stage runs deploy/setup.sh, the README's set-up, so that both
# build the same way. tests/scripts/dockerfile_test.sh checks that it does, and that
# the runtime packages below provide every library the binaries link.

FROM debian:bookworm-slim AS build
WORKDIR /src
# Packages in a layer of their own, rebuilt only when the script changes.
# TESTS=OFF: no test suite, none of the packages only the tests use.
COPY deploy/setup.sh deploy/setup.sh
RUN TESTS=OFF deploy/setup.sh --deps-only && rm -rf /var/lib/apt/lists/*
COPY . .
# ccache's directory in BuildKit's cache: a rebuild after a change compiles
# only what changed (RUN --mount needs BuildKit: Docker 23 and later by
# default, DOCKER_BUILDKIT=1 with Debian 12's docker.io).
RUN --mount=type=cache,target=/ccache \
    CCACHE_DIR=/ccache TESTS=OFF BUILD_DIR=/src/build deploy/setup.sh

FROM debian:bookworm-slim
# The runtime libraries of the binaries; apt brings their dependencies.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libboost-json1.81.0 \
      libcaf-core0.17 \
      libcaf-io0.17 \
      libcaf-openssl0.17 \
      libcpp-httplib0.11 \
      libgrpc++1.51 \
      libmimalloc2.0 \
      libprotobuf32 \
      librdkafka++1 \
      libreadline8 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --user-group --uid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin rpcbatch
COPY --from=build /src/build/bin/ /usr/local/bin/
USER 10001:10001
# Node links (4250), console (4242), HTTP /metrics /healthz /readyz (9464),
# RpcService (50051). Every program listens on loopback unless told
# otherwise: in a container, pass 0.0.0.0 (RPCBATCH_LISTEN and the like).
EXPOSE 4250 4242 9464 50051
ENTRYPOINT ["rpcbatch-node"]
