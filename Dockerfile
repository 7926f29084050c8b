# Builds the `spool` binary and its exec trampoline `spool-exec` (which must sit beside it,
# docs/worker.md) and ships them in a slim Debian image.
#   docker build -t spool .
#   docker run --rm spool worker --help

# The toolchain CI builds and tests with (6.3.1); several dependencies need tools 6.2.
FROM swift:6.3-bookworm AS build
# redis-server, iproute2, nftables, python3 and openssl only for running the tests in this
# stage (`docker build --target build`, then Scripts/test.sh; partitions need --privileged).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libhiredis-dev pkg-config \
        redis-server redis-tools iproute2 nftables python3 openssl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies first so that this layer is cached across source changes.
COPY Package.swift Package.resolved* ./
RUN swift package resolve
COPY . .
RUN swift build -c release --product spool --static-swift-stdlib \
    && swift build -c release --product spool-exec --static-swift-stdlib \
    && install -D "$(swift build -c release --show-bin-path)/spool" /out/spool \
    && install -D "$(swift build -c release --show-bin-path)/spool-exec" /out/spool-exec

FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libhiredis0.14 ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin spool
COPY --from=build /out/spool /out/spool-exec /usr/local/bin/
USER spool
# The image has no redis-server: give every command a Redis, e.g.
#   docker run --rm -e SPOOL_REDIS_URL=redis://redis:6379 spool worker --queue q --exec ...
# tini as PID 1: it reaps what exec handlers leave behind (a handler's own children outlive it
# and are handed to PID 1, which spool does not wait for) and passes SIGTERM on to spool
# (the kernel drops signals to a PID 1 without a handler, as every command but the worker is)
ENTRYPOINT ["/usr/bin/tini", "--", "spool"]
CMD ["--help"]
