package workerapp

import (
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
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
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
