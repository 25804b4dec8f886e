# syntax=docker/dockerfile:1
# echo-svc image: a build stage that compiles (Release preset) and runs the test suite, and a
# runtime stage FROM scratch that holds the binary, the shared libraries it loads and the
# dynamic loader, nothing else: no shell, no package manager.
#
#   podman build --format docker -t echo-svc .     (docker build -t echo-svc . works too)
#
# --format docker: the OCI format has no HEALTHCHECK and podman would drop it.
#
# Build arguments:
#   BASE_IMAGE  a Debian 12 image for the build stage; scripts/container-test passes one made
#               locally with debootstrap where no image registry is reachable
#   RUN_TESTS   1 (default) builds and runs the whole suite except the stress label before an
#               image is produced; 0 builds only echo-svc (a quicker image for a pipeline that
#               has run the suite already)
#   VERSION, SOURCE, LICENSES, REVISION  the OCI labels below
ARG BASE_IMAGE=debian:bookworm

FROM ${BASE_IMAGE} AS build
ARG RUN_TESTS=1
# The runtime stage copies glibc, libstdc++ and the Boost, fmt and OpenSSL libraries out of this stage,
# so upgrade first: the image then carries the current point release of each.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y --no-install-recommends \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config python3 iproute2 \
      libboost1.81-dev libboost-program-options1.81-dev libboost-json1.81-dev libboost-test1.81-dev libfmt-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The stress suite is excluded from the image build (it measures the machine more than the
# code and runs for minutes), so it is not even compiled; neither are the benchmark tools.
RUN cmake --preset release -DECHO_BUILD_BENCH=OFF -DECHO_BUILD_STRESS=OFF \
 && if [ "$RUN_TESTS" = 1 ]; then \
      cmake --build --preset release \
      && ctest --preset release --label-exclude stress; \
    else \
      cmake --build --preset release --target echo-svc; \
    fi

# The runtime tree: the binary and exactly what ldd says it loads, the dynamic loader among
# them, at the paths the loader searches by default. A fully static link is not possible
# with Debian's packages (libfmt-dev ships no libfmt.a); should the binary ever be static,
# ldd finds nothing and only the binary is copied. The chroot run proves the tree is
# complete before the image is made from it.
RUN set -eu; \
    mkdir -p /rootfs/usr/local/bin; \
    install -m 0755 -s build/release/app/echo-svc /rootfs/usr/local/bin/echo-svc; \
    if ldd /rootfs/usr/local/bin/echo-svc >/tmp/ldd.txt 2>&1; then \
      grep -o '/[^ ]*' /tmp/ldd.txt | sort -u | while read -r lib; do \
        cp --parents -L "$lib" /rootfs/; \
      done; \
    fi; \
    cat /tmp/ldd.txt; \
    chroot --userspec=10001:10001 /rootfs /usr/local/bin/echo-svc --version

FROM scratch
ARG VERSION=0.1.0
ARG SOURCE=""
ARG LICENSES=NOASSERTION
ARG REVISION=""
LABEL org.opencontainers.image.title="echo-svc" \
      org.opencontainers.image.description="Echo service on Boost.Asio (TCP, UDP, TLS, Unix sockets, MPTCP): every byte a client sends is sent back, in order, exactly once" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="${LICENSES}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /rootfs/ /
# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd (there is none).
USER 10001:10001
# 7007: the echo service; 9100: the admin HTTP listener (/metrics, /healthz, /readyz).
EXPOSE 7007 9100
# echo-svc handles SIGTERM itself as PID 1: it stops accepting, drains (--shutdown-timeout)
# and exits 0.
STOPSIGNAL SIGTERM
# No shell in the image: the check is the binary itself, a real echo round trip.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/echo-svc", "check", "--port", "7007"]
ENTRYPOINT ["/usr/local/bin/echo-svc"]
# --threads 0: as many event-loop threads as the container's CPU quota allows.
CMD ["--threads", "0", "--port", "7007", "--admin-listen", "0.0.0.0:9100"]
