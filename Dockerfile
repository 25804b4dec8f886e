# syntax=docker/dockerfile:1
# Build stage: compile and run the test suite; an image is only produced if the tests pass.
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ cmake ninja-build python3 \
      libboost1.81-dev libboost-program-options1.81-dev libboost-test1.81-dev libfmt-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake --preset release -DECHO_BUILD_BENCH=OFF \
 && cmake --build --preset release \
 && ctest --preset release --label-exclude stress

# Runtime stage: the binary and its two shared libraries, nothing else.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libboost-program-options1.81.0 libfmt9 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/app/echo-svc /usr/local/bin/echo-svc
# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd lookup.
USER 10001:10001
EXPOSE 7007
# echo-svc drains on SIGTERM (see --shutdown-timeout) and handles it itself as PID 1.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/echo-svc"]
CMD ["--threads", "0", "--port", "7007"]
