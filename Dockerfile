# Once's worker (cmd/worker), CLI (cmd/starter) and HTTP API (cmd/api). Build: docker build -t once-worker .
# It connects to TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
# TLS, profiles as the Temporal SDK's envconfig reads them) and runs the tasks
# of ONCE_ENV (default "dev"). Built with -tags nodev: the image holds no
# embedded Temporal server, so TEMPORAL_ADDRESS is required.

FROM golang:1.26 AS build
WORKDIR /src
# Both modules (the library at the root, the binaries in cmd/) and the
# workspace that joins them. The cached download layer holds the library's
# modules (the SDK and its dependencies): what the worker links. Downloading
# the cmd module's (or the workspace's) would fetch the whole Temporal server,
# which a -tags nodev build does not need; go build fetches the few others.
COPY go.mod go.sum go.work go.work.sum ./
COPY cmd/go.mod cmd/go.sum ./cmd/
RUN GOWORK=off go mod download
COPY . .
RUN CGO_ENABLED=0 go build -tags nodev -trimpath -ldflags="-s -w" -o /out/worker ./cmd/worker \
 && CGO_ENABLED=0 go build -tags nodev -trimpath -ldflags="-s -w" -o /out/starter ./cmd/starter \
 && CGO_ENABLED=0 go build -tags nodev -trimpath -ldflags="-s -w" -o /out/api ./cmd/api

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/starter /out/api /usr/local/bin/
ENV ONCE_ENV=dev
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/worker"]
