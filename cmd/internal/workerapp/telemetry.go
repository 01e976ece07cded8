package workerapp

import (
	"context"
	"net/http"

	"go.temporal.io/sdk/interceptor"

	"github.com/once-run/once/cmd/internal/telemetry"
)

// Metrics (--metrics-addr) and tracing (--otel): package telemetry, shared
// with the HTTP API binary. Spans go to TracerProvider when set (tests),
// else to an OTLP exporter configured by the OpenTelemetry SDK's standard
// environment variables: OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf, the default, or grpc),
// OTEL_SERVICE_NAME (default once-worker), OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER, OTEL_BSP_*.

// newMetrics is telemetry.NewMetrics.
var newMetrics = telemetry.NewMetrics

// defaultServiceName names the worker's spans when OTEL_SERVICE_NAME is unset.
const defaultServiceName = "once-worker"

// serveMetrics listens on MetricsAddr and serves h at /metrics.
func (m *Main) serveMetrics(h http.Handler) error {
	srv, addr, err := telemetry.ServeMetrics(m.MetricsAddr, h)
	if err != nil {
		return err
	}
	m.metrics, m.metAddr = srv, addr
	return nil
}

// MetricsAddress is where /metrics is served, after Run; "" when off.
func (m *Main) MetricsAddress() string { return m.metAddr }

// newTracer returns the SDK tracer on m.TracerProvider, or on a provider
// exporting over OTLP (kept to be shut down by Close), and a description of
// where spans go.
func (m *Main) newTracer(ctx context.Context) (interceptor.Tracer, string, error) {
	t, where, made, err := telemetry.NewTracer(ctx, m.TracerProvider, m.Getenv, defaultServiceName)
	if err != nil {
		return nil, "", err
	}
	m.tracerProvider = made
	return t, where, nil
}

// shutdownTracing flushes and stops the tracer provider that Run made.
func (m *Main) shutdownTracing() error { return telemetry.Shutdown(m.tracerProvider) }
