# Once's worker (cmd/worker). Build: docker build -t once-worker .
# It connects to TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
# TLS, profiles as the Temporal SDK's envconfig reads them) and runs the tasks
# of ONCE_ENV (default "dev").

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/worker ./cmd/worker \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/starter ./cmd/starter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/starter /usr/local/bin/
ENV ONCE_ENV=dev
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/worker"]
