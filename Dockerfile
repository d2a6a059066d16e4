# Same build as the README: `cargo build --release`, then run the binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && cp target/release/crm /usr/local/bin/crm

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data crm \
    && mkdir -p /data && chown crm /data
COPY --from=build /usr/local/bin/crm /usr/local/bin/crm
USER crm
WORKDIR /data
VOLUME ["/data"]
ENV CRM_ADDR=0.0.0.0:8080 \
    DATABASE_URL=/data/crm.db \
    RUST_LOG=info
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD ["crm", "healthcheck"]
ENTRYPOINT ["crm"]
CMD ["serve"]
