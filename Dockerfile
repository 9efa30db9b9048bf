# The orchestrator's image for machines that can reach a registry: a
# Debian 12 build stage (the packages tools/setup installs, Bazel offline
# as everywhere), then the same FROM scratch stage as tools/image builds
# offline (deploy/runtime.Dockerfile; tests/deploy:image_test checks that
# the two final stages stay the same, source paths aside).
#
#   docker build --build-arg ORCH_REVISION=$(git rev-parse --short=12 HEAD) \
#       -t acestream-orchestrator:$(cat VERSION) .
#
# Without a registry, use tools/image (docs/DEPLOY.md).
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
        --no-install-recommends bazel-bootstrap libnng-dev libprotobuf-c-dev \
        protobuf-c-compiler libh2o-evloop-dev libssl-dev zlib1g-dev \
        libcurl4-openssl-dev libjansson-dev libsqlite3-dev libcmocka-dev \
        ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The context has no .git (.dockerignore): the revision comes from here.
ARG ORCH_REVISION=unknown
RUN ORCH_REVISION="$ORCH_REVISION" bazel build --config=release \
        //src/cmd:orchestratord //src/cmd:orchctl && \
    bin="$(bazel info --config=release bazel-bin)/src/cmd" && \
    tools/rootfs /out "$bin/orchestratord" "$bin/orchctl"

FROM scratch
COPY --from=build /out/rootfs /
COPY --from=build --chown=65532:65532 /out/data /data
# Not root: the Docker socket is reached through its group, added at run
# time (docker run --group-add <gid of the socket>; compose: DOCKER_GID).
USER 65532:65532
WORKDIR /data
# The database lives in the volume (docs/DEPLOY.md).
ENV DB_PATH=/data/orchestrator.db
VOLUME ["/data"]
EXPOSE 8000
# orchestratord leaves on SIGTERM at once (PID 1 gets no default action,
# so it handles the signal itself); engines keep running and are adopted
# by the next start.
STOPSIGNAL SIGTERM
# Exec form (no shell here): the binary asks its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/usr/local/bin/orchestratord", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/orchestratord"]
