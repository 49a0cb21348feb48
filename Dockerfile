# syntax=docker/dockerfile:1
# Multi-stage build: a release binary on the official Rust image, then a small non-root runtime
# with the model and the trivia deck. The database lives on a volume.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY crates ./crates
COPY src ./src
COPY tests ./tests
# The x86 feature level the binary is compiled for (README: "Building for your CPU"): x86-64-v3
# (AVX2 + FMA, every x86 server CPU since 2015) by default; x86-64-v4 where AVX-512 exists,
# x86-64 for baseline. The binary refuses to start, naming what is missing, on a CPU below it.
# Other architectures build for their baseline.
ARG X86_LEVEL=x86-64-v3
# Cargo features: FEATURES=onnxruntime builds in the onnxruntime backend (README: "Faster
# inference with onnxruntime"); its library is mounted at run time, never part of the image.
ARG FEATURES=""
RUN if [ "$(uname -m)" = x86_64 ]; then export RUSTFLAGS="-C target-cpu=${X86_LEVEL}"; fi \
    && cargo build --release --locked --bin ispotato --features "${FEATURES}"

FROM debian:bookworm-slim AS runtime
# ca-certificates is left unpinned on purpose: the CA bundle must follow Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ispotato \
    && mkdir -p /data \
    && chown ispotato /data
WORKDIR /app
COPY --from=build /src/target/release/ispotato /app/bin/ispotato
COPY models /app/models
COPY trivia /app/trivia
COPY samples /app/samples
ENV ISPOTATO_DATABASE_PATH=/data/ispotato.db \
    ISPOTATO_ADMIN_LISTEN=127.0.0.1:9184 \
    ISPOTATO_WEB_LISTEN=0.0.0.0:8080 \
    ISPOTATO_LOG_FORMAT=json \
    ISPOTATO_LOG=info
VOLUME ["/data"]
# The web page and its API.
EXPOSE 8080
# The admin endpoints listen inside the container only (the health check below uses them). To
# scrape /metrics from outside, set ISPOTATO_ADMIN_LISTEN=0.0.0.0:9184 and publish the port on a
# private interface, as docker-compose.yml does; admin actions also need ISPOTATO_ADMIN_TOKEN_FILE.
USER 10001
# The binary finds models/ and trivia/ one folder above itself (/app).
HEALTHCHECK --interval=30s --timeout=6s --start-period=20s --retries=3 CMD ["/app/bin/ispotato", "health"]
ENTRYPOINT ["/app/bin/ispotato"]
CMD ["serve"]
