# A multi-stage build: the gateway and the example plugins (wasm32-wasip2)
# built in a Rust image, run in a slim Debian with nothing else.
#   docker build -t scimgate .
#   docker compose -f deploy/compose.yaml up
FROM rust:1-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
COPY . .
# The plugins first (plugins/artifacts builds them all into target/plugins),
# then the gateway.
RUN cargo build --release -p scimgate-plugin-artifacts \
 && cargo build --release -p scimgate \
 && mkdir -p /out/plugins \
 && cp target/release/scimgate /out/ \
 && cp target/plugins/wasm32-wasip2/release/*.wasm /out/plugins/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/scimgate --create-home scimgate
COPY --from=build /out/scimgate /usr/local/bin/scimgate
COPY --from=build /out/plugins /usr/local/lib/scimgate/plugins
COPY deploy/scimgate.toml deploy/replicas.toml /etc/scimgate/
COPY deploy/tenants /etc/scimgate/tenants
USER scimgate
VOLUME /var/lib/scimgate
EXPOSE 8080 9100
HEALTHCHECK --interval=10s --timeout=2s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/9100"]
ENTRYPOINT ["/usr/local/bin/scimgate"]
CMD ["serve", "--config", "/etc/scimgate/scimgate.toml"]
