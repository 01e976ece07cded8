// Package workerapp is the worker binary (cmd/worker) as a library, so that
// end-to-end tests can drive it in-process: ParseFlags, Run, Close.
package workerapp

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/once-run/once"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"

	"github.com/once-run/once/cmd/internal/metrics"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// Main is the worker program: an optional embedded Temporal server, a client
// and a worker for one environment.
type Main struct {
	// Set by ParseFlags (or directly, in tests).
	Dev           bool   // start the embedded server
	GRPCAddress   string // embedded server's frontend
	UIAddress     string // embedded server's Web UI; "" for none
	DBFile        string // embedded server's SQLite file
	Environment   string
	TaskQueueBase string
	LogLevel      string
	MetricsAddr   string // Prometheus /metrics listen address; "" for none
	Examples      bool   // register the example tasks (package examples)

	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string

	server  interface{ Stop() error } // the embedded server (dev mode)
	client  client.Client
	worker  *worker.Worker
	metrics *http.Server
	metAddr string
}

// NewMain returns a Main with the binary's defaults.
func NewMain() *Main {
	return &Main{
		GRPCAddress: "127.0.0.1:7233",
		UIAddress:   "127.0.0.1:8233",
		DBFile:      filepath.Join(".once", "dev.db"),
		Environment: once.DefaultEnvironment,
		LogLevel:    "info",
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		Getenv:      os.Getenv,
	}
}

// ParseFlags reads flags and environment variables. Without TEMPORAL_ADDRESS
// (or with --dev) the worker starts the embedded server.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: worker [flags]

Runs Once's worker. Without TEMPORAL_ADDRESS (or with --dev) it first starts an
embedded Temporal server backed by a SQLite file. With TEMPORAL_ADDRESS set it
connects there, reading TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings and
profiles as the Temporal SDK's envconfig does.

Flags:
`)
		fs.PrintDefaults()
	}
	envDefault := func(name, def string) string {
		if v := m.Getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.BoolVar(&m.Dev, "dev", m.Getenv("TEMPORAL_ADDRESS") == "", "start the embedded Temporal server (default when TEMPORAL_ADDRESS is unset)")
	fs.StringVar(&m.GRPCAddress, "dev-grpc-addr", m.GRPCAddress, "embedded server: gRPC frontend address")
	fs.StringVar(&m.UIAddress, "dev-ui-addr", m.UIAddress, "embedded server: Web UI address (empty: no UI)")
	fs.StringVar(&m.DBFile, "dev-db", envDefault("ONCE_DEV_DB", m.DBFile), "embedded server: SQLite data file (env ONCE_DEV_DB)")
	fs.StringVar(&m.Environment, "env", envDefault("ONCE_ENV", m.Environment), "environment whose tasks this worker runs (env ONCE_ENV)")
	fs.StringVar(&m.TaskQueueBase, "task-queue", envDefault("ONCE_TASK_QUEUE", m.TaskQueueBase), `task-queue prefix; the queue is "<prefix>-<env>" (env ONCE_TASK_QUEUE, default "once")`)
	fs.StringVar(&m.MetricsAddr, "metrics-addr", envDefault("ONCE_METRICS_ADDR", m.MetricsAddr), "serve Prometheus metrics on this address at /metrics, e.g. 127.0.0.1:9090 (env ONCE_METRICS_ADDR; default none)")
	fs.BoolVar(&m.Examples, "examples", envBool(m.Getenv("ONCE_EXAMPLES"), m.Getenv("TEMPORAL_ADDRESS") == ""), "register the example tasks hello, child-task, my-task, activity-trigger-task (env ONCE_EXAMPLES; default on in dev mode)")
	fs.StringVar(&m.LogLevel, "log-level", envDefault("ONCE_LOG_LEVEL", m.LogLevel), "log level: debug, info, warn, error (env ONCE_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if _, err := parseLevel(m.LogLevel); err != nil {
		return err
	}
	return nil
}

// Run starts the server (in dev mode), connects and starts the worker. It
// returns once the worker polls; Close stops everything.
func (m *Main) Run(ctx context.Context) error {
	level, err := parseLevel(m.LogLevel)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))

	var opts client.Options
	if m.Dev {
		if opts, err = m.startDev(); err != nil {
			return err
		}
	} else {
		opts, err = envconfig.LoadDefaultClientOptions()
		if err != nil {
			return fmt.Errorf("client configuration: %w", err)
		}
		fmt.Fprintf(m.Stdout, "Temporal server  %s (namespace %s)\n", orDefault(opts.HostPort, client.DefaultHostPort), orDefault(opts.Namespace, client.DefaultNamespace))
	}
	opts.Logger = sdklog.NewStructuredLogger(logger)
	if m.MetricsAddr != "" {
		reg := metrics.NewRegistry()
		opts.MetricsHandler = reg.Handler()
		if err := m.serveMetrics(reg); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "Metrics          http://%s/metrics\n", m.metAddr)
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m.client, err = client.DialContext(dialCtx, opts)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", orDefault(opts.HostPort, client.DefaultHostPort), err)
	}
	namespace := orDefault(opts.Namespace, client.DefaultNamespace)
	saCtx, saCancel := context.WithTimeout(ctx, 10*time.Second)
	if err := worker.EnsureSearchAttributes(saCtx, m.client, namespace); err != nil {
		logger.Warn("Once's search attributes are not registered; runs are still found by memo and workflow ID", "error", err)
	}
	saCancel()
	var tasks []workflows.Definition
	if m.Examples {
		tasks = examples.Tasks()
	}
	m.worker, err = worker.New(m.client, worker.Options{
		Environment:    m.Environment,
		TaskQueueBase:  m.TaskQueueBase,
		Namespace:      namespace,
		Tasks:          tasks,
		Logger:         opts.Logger,
		MetricsHandler: opts.MetricsHandler,
	})
	if err != nil {
		return err
	}
	if m.Examples {
		m.worker.RegisterActivity(&examples.Activities{Starter: m.worker.Starter()})
	}
	if err := m.worker.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	fmt.Fprintf(m.Stdout, "Worker           env %s, task queue %s, tasks %s\n", m.worker.Environment(), m.worker.TaskQueue(), strings.Join(m.worker.Tasks(), ", "))
	return nil
}

// serveMetrics listens on MetricsAddr and serves reg at /metrics.
func (m *Main) serveMetrics(reg *metrics.Registry) error {
	l, err := net.Listen("tcp", m.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics address: %w", err)
	}
	m.metAddr = l.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/metrics", reg)
	m.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.metrics.Serve(l) }()
	return nil
}

// MetricsAddress is where /metrics is served, after Run; "" when off.
func (m *Main) MetricsAddress() string { return m.metAddr }

// Client is the connected client, after Run.
func (m *Main) Client() client.Client { return m.client }

// Close stops the worker (letting running work drain), the client and the
// embedded server, in that order. The data file stays intact.
func (m *Main) Close() error {
	if m.worker != nil {
		m.worker.Stop()
	}
	if m.metrics != nil {
		_ = m.metrics.Close()
	}
	if m.client != nil {
		m.client.Close()
	}
	if m.server != nil {
		return m.server.Stop()
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// envBool reads a boolean environment value; def when empty or not a bool.
func envBool(v string, def bool) bool {
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	return def
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
