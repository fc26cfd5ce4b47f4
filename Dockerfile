# TreeStore server image.
#   docker build -t treestore .
#   docker run --ulimit memlock=8388608 -p 50051:50051 -p 9090:9090 -v treestore-data:/data treestore
# glommio registers I/O memory (512 KiB per executor): the container needs a memlock limit of a
# few MiB (Docker's default is often 64 KiB), and io_uring must be allowed by the seccomp profile.
FROM rust:1-bookworm AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --bin treestore && cp target/release/treestore /usr/local/bin/treestore

FROM debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ca-certificates libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data treestore \
    && mkdir -p /data && chown treestore /data
COPY --from=build /usr/local/bin/treestore /usr/local/bin/treestore
USER treestore
VOLUME /data
EXPOSE 50051 9090
ENV TREESTORE_DATA_DIR=/data TREESTORE_LISTEN=0.0.0.0:50051 TREESTORE_METRICS_LISTEN=0.0.0.0:9090 \
    TREESTORE_LOG_FORMAT=json
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/treestore", "serve"]
