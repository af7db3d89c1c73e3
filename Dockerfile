# A static, non-root image of crier.
#   docker build -t crier .
#   docker run -p 8080:8080 -v crier-data:/data crier
# Mount your own config at /etc/crier/config.toml; the bundled one serves
# the sample releases. The store is /data/crier.db (or a postgres:// DSN).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/crier ./cmd/crier \
 && mkdir -p /out/data /out/etc/crier \
 && sed -e 's|^listen   = "127.0.0.1:8080"|listen   = "0.0.0.0:8080"|' \
        -e 's|^dsn    = "crier.db".*|dsn    = "/data/crier.db"|' \
        -e 's|path     = "testdata/releases"|path     = "/usr/share/crier/releases"|' config.toml > /out/etc/crier/config.toml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/crier /usr/bin/crier
COPY --from=build /out/etc/crier /etc/crier
COPY --from=build --chown=nonroot:nonroot /out/data /data
COPY testdata/releases /usr/share/crier/releases
USER nonroot
EXPOSE 8080
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/bin/crier", "health", "--config", "/etc/crier/config.toml"]
ENTRYPOINT ["/usr/bin/crier"]
CMD ["serve", "--config", "/etc/crier/config.toml"]
