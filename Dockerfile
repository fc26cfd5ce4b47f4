# syntax=docker/dockerfile:1
# TreeStore server image: the server binary and the few shared libraries it links, on an empty
# base (about 22 MB). Needs BuildKit (Docker 23+ uses it by default; DOCKER_BUILDKIT=1 before).
#   docker build -t treestore .
#   docker run --ulimit memlock=8388608 -p 50051:50051 -p 9090:9090 -v treestore-data:/data treestore
# TREESTORE_IO_URING=auto: where the seccomp profile denies io_uring (Docker 25+ and containerd 2
# defaults) or the memlock limit is below what glommio locks (512 KiB per executor; Docker's
# default is often 64 KiB), the shards run on plain threads, with one warning. For io_uring:
#   docker run --security-opt seccomp=deploy/seccomp/treestore.json --ulimit memlock=8388608 ...
# Debug symbols (treestore.debug, matching the image's binary through its .gnu_debuglink):
#   docker build --target debug-symbols --output type=local,dest=./symbols .

FROM rust:1-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# libclang for RocksDB's bindgen; the base image has g++, make and binutils (objcopy).
# DL3008 (pin apt versions) ignored: the version comes with the base image's Debian release, and
# Debian drops a superseded version from its archive at each point or security release, so a
# pinned one would stop the build then; libclang's version does not change what is built.
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libclang-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads, so that editing docs, tests or clients does not invalidate it.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY src src
COPY shards shards
COPY wal wal
COPY benches/encode.rs benches/treestore_bench.rs benches/
COPY benches/treestore_bench benches/treestore_bench
# The crate registry and the target directory live in BuildKit cache mounts: a rebuild after a
# source change recompiles TreeStore's crates, not RocksDB. Profile `dist` (Cargo.toml): release
# with line tables; they go to treestore.debug and the shipped binary has no symbols at all.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --locked --profile dist --bin treestore \
    && mkdir -p /out \
    && objcopy --only-keep-debug --compress-debug-sections=zlib target/dist/treestore /out/treestore.debug \
    && objcopy --strip-all --add-gnu-debuglink=/out/treestore.debug target/dist/treestore /out/treestore
# The final image's whole file system: the binary, exactly the shared libraries it links (as
# ldd resolves them: libstdc++, libgcc_s, libm, libc and the dynamic loader), and an /etc/passwd
# naming uid 10001.
RUN mkdir -p /rootfs/usr/local/bin /rootfs/etc /data \
    && cp /out/treestore /rootfs/usr/local/bin/treestore \
    && ldd /out/treestore | tee /out/ldd.txt \
    && if grep -q 'not found' /out/ldd.txt; then echo 'missing shared library' >&2; exit 1; fi \
    && awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' /out/ldd.txt \
       | xargs -r cp --parents --dereference -t /rootfs \
    && echo 'treestore:x:10001:10001:TreeStore:/data:/nonexistent' > /rootfs/etc/passwd \
    && echo 'treestore:x:10001:' > /rootfs/etc/group \
    && chown 10001:10001 /data

FROM scratch AS debug-symbols
COPY --from=build /out/treestore.debug /

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build --chown=10001:10001 /data /data
USER 10001:10001
VOLUME /data
EXPOSE 50051 9090
ENV TREESTORE_DATA_DIR=/data TREESTORE_LISTEN=0.0.0.0:50051 TREESTORE_METRICS_LISTEN=0.0.0.0:9090 \
    TREESTORE_LOG_FORMAT=json TREESTORE_IO_URING=auto
STOPSIGNAL SIGTERM
# No shell in the image: the health check is the binary itself (grpc.health.v1 on 127.0.0.1:50051;
# set TREESTORE_HEALTH_ADDR when TREESTORE_LISTEN moves the port).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/treestore", "health"]
ENTRYPOINT ["/usr/local/bin/treestore"]
CMD ["serve"]
