// Package telemetry is the metrics and tracing of the binaries (the worker
// and the HTTP API): the SDK's metrics handler on tally with Prometheus naming
// served at /metrics, and the SDK's OpenTelemetry tracer exporting over OTLP.
package telemetry

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
	"go.opentelemetry.io/otel/trace"
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

// NewMetrics returns the SDK metrics handler, the /metrics handler and the
// closer that flushes and stops the tally scope.
func NewMetrics(onError func(error)) (client.MetricsHandler, http.Handler, io.Closer) {
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

// ServeMetrics listens on addr and serves h at /metrics; it returns the
// server (Close it) and the address it listens on.
//
// Errors: the address's.
func ServeMetrics(addr string, h http.Handler) (*http.Server, string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics address: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, l.Addr().String(), nil
}

// Tracing: the SDK's OpenTelemetry tracer (go.temporal.io/sdk/contrib/opentelemetry)
// on a binary's worker, starter and HTTP API. Spans go to a given tracer
// provider (tests), else to an OTLP exporter configured by the OpenTelemetry
// SDK's standard environment variables: OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf, the default, or grpc),
// OTEL_SERVICE_NAME (default: the binary's, once-worker or once-api),
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*.

// NewTracer returns the SDK tracer on tp, or, when tp is nil, on a provider
// exporting over OTLP as the environment (getenv) says, with serviceName
// unless OTEL_SERVICE_NAME names another; and a description of where spans
// go, and the provider it made (nil for tp), to be shut down with Shutdown.
//
// Errors: an unknown OTLP protocol; the exporter's, the resource's or the
// tracer's.
func NewTracer(ctx context.Context, tp trace.TracerProvider, getenv func(string) string, serviceName string) (interceptor.Tracer, string, *sdktrace.TracerProvider, error) {
	where := "the given tracer provider"
	var made *sdktrace.TracerProvider
	if tp == nil {
		exp, protocol, err := otlpExporter(ctx, getenv)
		if err != nil {
			return nil, "", nil, err
		}
		res, err := resource.New(ctx,
			resource.WithAttributes(attribute.String("service.name", serviceName)),
			resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
			resource.WithTelemetrySDK())
		if err != nil {
			return nil, "", nil, fmt.Errorf("tracing resource: %w", err)
		}
		made = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		tp, where = made, "OTLP "+protocol
	}
	t, err := opentelemetry.NewTracer(opentelemetry.TracerOptions{Tracer: tp.Tracer("github.com/once-run/once")})
	if err != nil {
		return nil, "", nil, fmt.Errorf("tracer: %w", err)
	}
	return t, where, made, nil
}

// otlpExporter is the OTLP span exporter of the protocol the environment
// names; the exporter reads the rest of its configuration from it.
func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, string, error) {
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
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

// Shutdown flushes and stops a tracer provider that NewTracer made (nil:
// nothing to do), within 5 seconds.
func Shutdown(tp *sdktrace.TracerProvider) error {
	if tp == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return tp.Shutdown(ctx)
}
