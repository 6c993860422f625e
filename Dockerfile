# carteiro in a container: build with the Rust image, run on slim Debian as
# a non-root user.
#
#   docker build --build-arg CARTEIRO_GIT_COMMIT=$(git rev-parse --short HEAD) -t carteiro .
#   docker run --rm carteiro version
#   docker run --rm -p 8089:8089 carteiro sim --listen 0.0.0.0:8089
#
# Configuration: mount a file and pass --config, or set CARTEIRO__SECTION__KEY
# variables; tokens via CARTEIRO__ZENDESK__API_TOKEN_FILE=/run/secrets/...

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Shown by `carteiro version`; empty leaves it out.
ARG CARTEIRO_GIT_COMMIT=""
ENV CARTEIRO_GIT_COMMIT=${CARTEIRO_GIT_COMMIT}
RUN cargo build --release --locked --bin carteiro

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/carteiro \
        --create-home --shell /usr/sbin/nologin carteiro
COPY --from=build /src/target/release/carteiro /usr/local/bin/carteiro
# carteiro reads config/default.toml from its working directory.
WORKDIR /opt/carteiro
COPY config/ ./config/
COPY rules/ ./rules/
USER carteiro:carteiro
ENTRYPOINT ["carteiro"]
CMD ["--help"]
