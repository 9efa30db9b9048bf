# The orchestrator's image, final stage: FROM scratch with what tools/rootfs
# assembled (the optimized binaries and exactly the shared libraries they
# load). tools/image builds it offline from a context holding rootfs/ and
# data/; the root Dockerfile's last stage is this text with
# `--from=build /out/` before each source (tests/deploy:image_test checks
# that the two stay the same).
FROM scratch
COPY rootfs /
COPY --chown=65532:65532 data /data
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
