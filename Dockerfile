# Multi-stage build of the evalengine CLI and service (not built in CI here: no Docker daemon).
# docker build -t ghcr.io/evalengine/evalengine:latest .
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libopenblas-dev liblapacke-dev libsqlite3-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
RUN swift package resolve
COPY Sources Sources
RUN swift build -c release --static-swift-stdlib --product evalengine \
    && cp "$(swift build -c release --show-bin-path)/evalengine" /usr/local/bin/evalengine

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libopenblas0 liblapacke libsqlite3-0 libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --uid 10001 --create-home evalengine
COPY --from=build /usr/local/bin/evalengine /usr/local/bin/evalengine
COPY configs /etc/evalengine/examples
COPY golden-sets /data/golden
# GET /docs serves these (docs_dir in the service config).
COPY README.md /usr/share/evalengine/README.md
COPY docs /usr/share/evalengine/docs
# A crash must free the port at once: the backtracer symbolicates quickly and never waits for a
# terminal (docs/OPERATIONS.md, "After a crash").
ENV SWIFT_BACKTRACE=enable=yes,interactive=no,symbolicate=fast
USER 10001
EXPOSE 8080
ENTRYPOINT ["evalengine"]
CMD ["serve", "--config", "/etc/evalengine/service.yaml"]
