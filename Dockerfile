# syntax=docker/dockerfile:1
#
# oidc-session: a static (musl) binary on distroless/static. The runtime image holds the
# binary, CA certificates, /etc/passwd with the `nonroot` user (65532), and nothing else:
# no shell, no package manager, nothing writable needed.
#
#   docker build -t oidc-session .
#   docker run --rm -p 8080:8080 -p 9090:9090 --env-file .env oidc-session
#   docker run --rm --env-file .env oidc-session check

ARG RUST_VERSION=1.95

# --- build -----------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build

# musl-tools: the C compiler wrapper that ring's C/assembly parts are built with.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*

# Cargo.toml's release profile as it is (fat LTO, one codegen unit: the build that
# docs/PERFORMANCE.md measured), with symbols stripped for size. scripts/image.sh builds
# with the same settings (helm/tests/test_image_script.py keeps the two in step).
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

# The musl target of the build machine's architecture (x86_64 or aarch64), and musl-gcc
# as its C compiler (only for that target: build scripts stay on the host toolchain).
RUN target="$(uname -m)-unknown-linux-musl" \
    && printf 'RUST_TARGET=%s\nexport CC_%s=musl-gcc\n' "$target" "${target//-/_}" > /rust-env \
    && rustup target add "$target"

# 1. Dependencies only: the manifests with placeholder sources. This layer is rebuilt only
#    when Cargo.toml or Cargo.lock change, not when the project's code does.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && . /rust-env \
    && cargo build --release --locked --target "$RUST_TARGET" \
    && rm -rf src

# 2. The project's code. Its files are touched so cargo never takes the placeholder
#    build for a fresh one.
COPY src ./src
RUN find src -type f -exec touch {} + \
    && . /rust-env \
    && cargo build --release --locked --target "$RUST_TARGET" \
    && mkdir -p /out \
    && cp "target/$RUST_TARGET/release/oidc-session" /out/oidc-session

# --- runtime ---------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="oidc-session" \
      org.opencontainers.image.description="Sign in with any OpenID Connect provider; sessions in Redis" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /out/oidc-session /usr/local/bin/oidc-session

# nonroot:nonroot of the distroless image; numeric so runAsNonRoot can verify it.
USER 65532:65532

# 8080: public listener (OIDC_LISTEN_ADDR), 9090: internal listener (OIDC_INTERNAL_LISTEN_ADDR).
EXPOSE 8080 9090

ENTRYPOINT ["/usr/local/bin/oidc-session"]
