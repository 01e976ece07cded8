package workerapp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/opentelemetry"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.temporal.io/sdk/interceptor"
)

// Metrics: the SDK's metrics handler on tally with its Prometheus reporter
// and Prometheus naming (counters end in _total, timers are histograms in
// seconds), as Temporal's samples do, so that Temporal's SDK dashboard reads
// them; the Go runtime and process collectors beside them.

// metricsReportInterval is how often tally hands counters to Prometheus.
const metricsReportInterval = time.Second

// newMetrics returns the SDK metrics handler, the /metrics handler and the
// closer that flushes and stops the tally scope.
func newMetrics(onError func(error)) (client.MetricsHandler, http.Handler, io.Closer) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       reg,
		Gatherer:         reg,
		DefaultTimerType: tallyprom.HistogramTimerType,
		OnRegisterError:  onError,
	})
	// Names and label names as the SDK sanitizes them for Prometheus; label
	// values kept as they are (Prometheus takes any UTF-8), so that task IDs
	// and namespaces read as they are written ("child-task", not
	// "child_task").
	sanitize := sdktally.PrometheusSanitizeOptions
	sanitize.ValueCharacters = tally.ValidCharacters{Ranges: []tally.SanitizeRange{{0, unicode.MaxRune}}}
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sanitize,
		// tally's own cardinality gauges are named against Prometheus
		// conventions (tally_internal_gauge_cardinality) and say nothing
		// about Temporal.
		OmitCardinalityMetrics: true,
	}, metricsReportInterval)
	handler := sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope))
	return handler, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), closer
}

// serveMetrics listens on MetricsAddr and serves h at /metrics.
func (m *Main) serveMetrics(h http.Handler) error {
	l, err := net.Listen("tcp", m.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics address: %w", err)
	}
	m.metAddr = l.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	m.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.metrics.Serve(l) }()
	return nil
}

// MetricsAddress is where /metrics is served, after Run; "" when off.
func (m *Main) MetricsAddress() string { return m.metAddr }

// Tracing: the SDK's OpenTelemetry tracer (go.temporal.io/sdk/contrib/opentelemetry)
// on the worker and its starter. Spans go to TracerProvider when set (tests),
// else to an OTLP exporter configured by the OpenTelemetry SDK's standard
// environment variables: OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf, the default, or grpc),
// OTEL_SERVICE_NAME (default once-worker), OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER, OTEL_BSP_*.

// defaultServiceName names the worker's spans when OTEL_SERVICE_NAME is unset.
const defaultServiceName = "once-worker"

// newTracer returns the SDK tracer on m.TracerProvider, or on a provider
// exporting over OTLP (kept to be shut down by Close), and a description of
// where spans go.
func (m *Main) newTracer(ctx context.Context) (interceptor.Tracer, string, error) {
	tp, where := m.TracerProvider, "the given tracer provider"
	if tp == nil {
		exp, protocol, err := m.otlpExporter(ctx)
		if err != nil {
			return nil, "", err
		}
		res, err := resource.New(ctx,
			resource.WithAttributes(attribute.String("service.name", defaultServiceName)),
			resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
			resource.WithTelemetrySDK())
		if err != nil {
			return nil, "", fmt.Errorf("tracing resource: %w", err)
		}
		sdkTP := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		m.tracerProvider = sdkTP
		tp, where = sdkTP, "OTLP "+protocol
	}
	t, err := opentelemetry.NewTracer(opentelemetry.TracerOptions{Tracer: tp.Tracer("github.com/once-run/once")})
	if err != nil {
		return nil, "", fmt.Errorf("tracer: %w", err)
	}
	return t, where, nil
}

// otlpExporter is the OTLP span exporter of the protocol the environment
// names; the exporter reads the rest of its configuration from it.
func (m *Main) otlpExporter(ctx context.Context) (sdktrace.SpanExporter, string, error) {
	protocol := m.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = m.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp sdktrace.SpanExporter
	var err error
	switch protocol {
	case "", "http/protobuf":
		protocol = "http/protobuf"
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, "", fmt.Errorf("OTLP protocol %q: want http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, "", fmt.Errorf("OTLP exporter: %w", err)
	}
	return exp, protocol, nil
}

// shutdownTracing flushes and stops the tracer provider that Run made.
func (m *Main) shutdownTracing() error {
	if m.tracerProvider == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return m.tracerProvider.Shutdown(ctx)
}
