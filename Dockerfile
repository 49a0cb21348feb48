# syntax=docker/dockerfile:1
# Multi-stage build: a release binary on the official Rust image, then a small non-root runtime.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY crates ./crates
COPY src ./src
RUN cargo build --release --locked --bin ispotato

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ispotato
WORKDIR /app
COPY --from=build /src/target/release/ispotato /app/bin/ispotato
COPY models /app/models
COPY samples /app/samples
USER ispotato
# The binary finds models/ one folder above itself (/app/models).
ENTRYPOINT ["/app/bin/ispotato"]
CMD ["classify", "/app/samples/potatoes_in_store_bin.jpg", "/app/samples/red_peppers.jpg"]
