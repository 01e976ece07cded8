// Package workerapp is the worker binary (cmd/worker) as a library, so that
// end-to-end tests can drive it in-process: ParseFlags, Run, Close. It takes
// the temporal CLI's connection flags (internal/connection, shared with the
// starter CLI) and runs in dev mode, with an embedded Temporal server, only
// when nothing names an address or --dev is given.
package workerapp

import (
	"context"
	"errors"
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

	"github.com/spf13/pflag"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"

	"github.com/once-run/once/cmd/internal/apiapp"
	"github.com/once-run/once/cmd/internal/connection"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/starter/httpapi"
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
	LogFormat     string // text or json
	MetricsAddr   string // Prometheus /metrics listen address; "" for none
	// HTTPAddr is where the HTTP API (package starter/httpapi) listens;
	// "" for none. ParseFlags defaults it to DevHTTPAddr in dev mode.
	HTTPAddr string
	// APITokensFile is the HTTP API's token list (apiapp.LoadTokens, with
	// ONCE_API_TOKENS). Without tokens the API accepts requests without
	// one, on a loopback address in dev mode only.
	APITokensFile string
	OTel          bool // trace with OpenTelemetry (see telemetry.go)
	Examples      bool // register the example tasks (package examples)
	// SearchAttributes registers Once's custom search attributes and sets
	// them on runs (worker.SearchAttributesAuto); off, runs carry the memo
	// only and are found by WorkflowType and WorkflowId.
	SearchAttributes bool

	// TracerProvider receives the spans when OTel is on. Optional: defaults
	// to an OTLP exporter configured by the OTEL_* environment variables.
	TracerProvider trace.TracerProvider

	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (ONCE_* and the TEMPORAL_* variables of
	// the SDK's envconfig). Optional: defaults to os.Getenv.
	Getenv func(string) string
	// Environ lists the environment as os.Environ does (envconfig reads
	// TEMPORAL_GRPC_META_* from it). Optional: defaults to none.
	Environ func() []string

	connFlags connection.Flags
	conn      *connection.Config // resolved by ParseFlags; nil: from the environment at Run

	server   DevServer       // the embedded server (dev mode)
	starter  *starter.Client // owns the SDK client the worker polls with
	worker   *worker.Worker
	metrics  *http.Server
	metAddr  string
	api      *http.Server
	apiURL   string
	metScope io.Closer // flushes and stops the metrics scope

	tracerProvider *sdktrace.TracerProvider // the one Run made, shut down by Close
}

// exampleSet is the example tasks and their activities: builtinExamples,
// set in examples.go, nil in a -tags nodev build (noexamples.go), which does
// not link package examples.
type exampleSet struct {
	tasks    func() []workflows.Definition
	register func(*worker.Worker) // the activities the tasks call
}

// errNoExamples: --examples (ONCE_EXAMPLES=true) asked a -tags nodev build
// for the example tasks it was built without.
var errNoExamples = errors.New("this worker is built without the example tasks (-tags nodev): drop --examples and ONCE_EXAMPLES, or run the dev build (go run ./cmd/worker)")

// DevServer is the embedded Temporal server of dev mode (internal/devserver;
// an interface so that a -tags nodev build, which has none, compiles the same
// callers).
type DevServer interface {
	Address() string
	Namespace() string
	UIAddress() string
	DBFile() string
	Stop() error
}

// Server is the embedded server, after Run in dev mode; nil otherwise.
func (m *Main) Server() DevServer {
	if m.server == nil {
		return nil
	}
	return m.server
}

// DevHTTPAddr is where the HTTP API listens in dev mode when --http-addr
// is not given.
const DevHTTPAddr = "127.0.0.1:7243"

// DefaultAddress is the Temporal frontend the worker connects to with
// --dev=false when nothing names an address.
const DefaultAddress = "127.0.0.1:7233"

// ErrHelp is what ParseFlags returns after printing the help or the version
// that were asked for: exit 0.
var ErrHelp = pflag.ErrHelp

// NewMain returns a Main with the binary's defaults.
func NewMain() *Main {
	return &Main{
		GRPCAddress: "127.0.0.1:7233",
		UIAddress:   "127.0.0.1:8233",
		DBFile:      filepath.Join(".once", "dev.db"),
		Environment: once.DefaultEnvironment,
		LogLevel:    "info",
		LogFormat:   "text",
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		Getenv:      os.Getenv,
		Environ:     os.Environ,
	}
}

const usage = `Runs Once's worker for one environment.

Where it connects: the temporal CLI's connection flags and precedence. Each
setting comes from its flag, else its environment variable (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_CODEC_*, …), else
the profile of the config file (--profile / TEMPORAL_PROFILE of --config-file /
TEMPORAL_CONFIG_FILE, as "temporal config set" writes it). When none of them
names an address, or with --dev, the worker first starts an embedded Temporal
server backed by a SQLite file (dev mode) and registers the example tasks.
With --codec-endpoint (in dev mode too) every payload goes through that remote
codec server.

Usage: worker [flags]

Examples:
  worker                                   # dev mode: embedded server and Web UI
  worker --env prod --address temporal.example:7233 --namespace orders
  worker --profile staging --log-format json --metrics-addr 127.0.0.1:9090
  worker --http-addr ""                    # dev mode without the HTTP API
  TEMPORAL_ADDRESS=temporal:7233 worker --env prod --task-queue billing

Flags:
`

// ParseFlags reads flags and environment variables, and resolves the
// connection: dev mode (the embedded server) when neither a flag, the
// environment nor a profile names an address, or with --dev.
//
// Errors: ErrHelp after --help or --version; a bad flag, log level or
// format; a config file or profile that cannot be read; --dev with
// --address.
func (m *Main) ParseFlags(args []string) error {
	if m.Getenv == nil {
		m.Getenv, m.Environ = os.Getenv, os.Environ
	}
	fs := m.flagSet()
	if err := fs.Parse(args, m.Stdout); err != nil {
		return err
	}
	if _, err := shared.NewLogger(io.Discard, m.LogLevel, m.LogFormat); err != nil {
		return err
	}
	cfg, err := m.connFlags.Resolve(fs.FlagSet, connection.EnvLookup(m.Getenv, m.Environ))
	if err != nil {
		return fmt.Errorf("client configuration: %w", err)
	}
	m.conn = cfg
	switch {
	case !fs.Changed("dev"):
		m.Dev = cfg.AddressFrom == connection.SourceNone
	case m.Dev && fs.Changed("address"):
		return errors.New("--dev starts an embedded server: drop --address, or --dev to connect there")
	}
	if m.Dev && !fs.Changed("http-addr") && m.Getenv("ONCE_HTTP_ADDR") == "" {
		m.HTTPAddr = DevHTTPAddr
	}
	if m.HTTPAddr != "" {
		if _, err := m.apiTokens(); err != nil {
			return err
		}
	}
	if !fs.Changed("examples") && m.Getenv("ONCE_EXAMPLES") == "" {
		// Dev mode registers the examples, when the binary has them.
		m.Examples = m.Dev && builtinExamples != nil
	} else if m.Examples && builtinExamples == nil {
		return errNoExamples
	}
	return nil
}

// flagSet is the worker's flags, bound to m's fields: each defaults to its
// environment variable, else to the field's value.
func (m *Main) flagSet() *shared.Flags {
	fs := shared.NewFlags("worker", usage, m.Getenv)
	envDefault := fs.EnvDefault
	fs.BoolVar(&m.Dev, "dev", false, "start the embedded Temporal server (default: when nothing names an address)")
	fs.StringVar(&m.GRPCAddress, "dev-grpc-addr", m.GRPCAddress, "embedded server: gRPC frontend `ADDRESS`")
	fs.StringVar(&m.UIAddress, "dev-ui-addr", m.UIAddress, "embedded server: Web UI `ADDRESS` (empty: no UI)")
	fs.StringVar(&m.DBFile, "dev-db", envDefault("ONCE_DEV_DB", m.DBFile), "embedded server: SQLite data `FILE` (env ONCE_DEV_DB)")
	fs.StringVar(&m.Environment, "env", envDefault("ONCE_ENV", m.Environment), "`ENVIRONMENT` whose tasks this worker runs (env ONCE_ENV)")
	fs.StringVar(&m.TaskQueueBase, "task-queue", envDefault("ONCE_TASK_QUEUE", m.TaskQueueBase), "task-queue `PREFIX`; the queue is \"<prefix>-<env>\" (env ONCE_TASK_QUEUE, default \"once\")")
	examplesUsage := "register the example tasks hello, child-task, my-task, activity-trigger-task (env ONCE_EXAMPLES; default on in dev mode)"
	if builtinExamples == nil {
		examplesUsage = "not in this build (-tags nodev): the example tasks are only in the dev build (env ONCE_EXAMPLES)"
	}
	fs.BoolVar(&m.Examples, "examples", shared.EnvBool(m.Getenv("ONCE_EXAMPLES")), examplesUsage)
	fs.BoolVar(&m.SearchAttributes, "search-attributes", shared.EnvBool(m.Getenv("ONCE_SEARCH_ATTRIBUTES")), "register Once's search attributes (OnceTask, OnceEnvironment, OnceKey) and set them on runs; runs are found by WorkflowType and WorkflowId without them (env ONCE_SEARCH_ATTRIBUTES)")
	fs.StringVar(&m.MetricsAddr, "metrics-addr", envDefault("ONCE_METRICS_ADDR", m.MetricsAddr), "serve Prometheus metrics on this `ADDRESS` at /metrics, e.g. 127.0.0.1:9090 (env ONCE_METRICS_ADDR; default none)")
	fs.StringVar(&m.HTTPAddr, "http-addr", envDefault("ONCE_HTTP_ADDR", m.HTTPAddr), "serve Once's HTTP API on this `ADDRESS` (env ONCE_HTTP_ADDR; default "+DevHTTPAddr+" in dev mode, else none; empty: none)")
	fs.StringVar(&m.APITokensFile, "api-tokens-file", envDefault("ONCE_API_TOKENS_FILE", m.APITokensFile), "the HTTP API's token list `FILE` (env ONCE_API_TOKENS_FILE, or ONCE_API_TOKENS inline); without tokens only a dev-mode API on loopback serves, without authentication")
	fs.BoolVar(&m.OTel, "otel", shared.EnvBool(m.Getenv("ONCE_OTEL")), "trace tasks with OpenTelemetry, exporting spans over OTLP as the OTEL_EXPORTER_OTLP_* environment variables say (env ONCE_OTEL; default off)")
	fs.StringVar(&m.LogLevel, "log-level", envDefault("ONCE_LOG_LEVEL", m.LogLevel), "log `LEVEL`: debug, info, warn, error (env ONCE_LOG_LEVEL)")
	fs.StringVar(&m.LogFormat, "log-format", envDefault("ONCE_LOG_FORMAT", shared.OrDefault(m.LogFormat, "text")), "log `FORMAT`: text or json (env ONCE_LOG_FORMAT)")
	m.connFlags.AddClientFlags(fs.FlagSet)
	m.connFlags.AddConfigFlags(fs.FlagSet)
	return fs
}

// Run starts the server (in dev mode), connects and starts the worker. It
// returns once the worker polls; Close stops everything.
func (m *Main) Run(ctx context.Context) error {
	if m.Examples && builtinExamples == nil {
		return errNoExamples // set directly, not by ParseFlags
	}
	logger, err := shared.NewLogger(m.Stderr, m.LogLevel, shared.OrDefault(m.LogFormat, "text"))
	if err != nil {
		return err
	}
	opts, err := m.clientOptions()
	if err != nil {
		return err
	}
	opts.Logger = sdklog.NewStructuredLogger(logger)
	if m.MetricsAddr != "" {
		var h http.Handler
		opts.MetricsHandler, h, m.metScope = newMetrics(func(err error) { logger.Error("metrics", "error", err) })
		if err := m.serveMetrics(h); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "Metrics          http://%s/metrics\n", m.metAddr)
	}
	var tracer interceptor.Tracer
	if m.OTel {
		var where string
		if tracer, where, err = m.newTracer(ctx); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "Tracing          OpenTelemetry, to %s\n", where)
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.dialStarter(dialCtx, opts); err != nil {
		return err
	}
	m.printRetention(ctx)
	saMode := m.searchAttributesMode(ctx, logger)
	if err := m.startWorker(opts.Logger, tracer, saMode); err != nil {
		return err
	}
	if m.HTTPAddr != "" {
		if err := m.serveAPI(logger, opts.MetricsHandler, tracer); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "HTTP API         %s\n", m.apiURL)
	}
	return nil
}

// clientOptions are the SDK client's options. In dev mode they are the
// embedded server's, started here, with the codec flags' data converter;
// else the connection's (resolved from the environment when ParseFlags did
// not). The banner shows the server and the codec.
func (m *Main) clientOptions() (client.Options, error) {
	if !m.Dev {
		opts, conn, err := m.connFlags.ClientOptions(m.conn, connection.EnvLookup(m.Getenv, m.Environ),
			DefaultAddress, "the default address: --dev=false and nothing names one", m.Stdout)
		m.conn = conn
		return opts, err
	}
	opts, err := m.startDev()
	if err != nil || m.conn == nil {
		return opts, err
	}
	// The codec flags hold in dev mode too: a starter with them must find
	// the payloads this worker writes encoded the same way.
	var endpoint string
	if opts.DataConverter, endpoint, err = m.conn.CodecDataConverter(opts.Namespace); err != nil {
		return opts, fmt.Errorf("client configuration: %w", err)
	}
	connection.PrintCodec(m.Stdout, endpoint)
	return opts, nil
}

// dialStarter dials the starter whose SDK client the worker polls with: the
// same namespace, data converter (and codec) and interceptors for the runs
// it executes and for the triggers of their activities.
//
// Errors: invalid starter options (once.ErrInvalidInput), before dialing;
// else starter.Dial's, with the address.
func (m *Main) dialStarter(ctx context.Context, opts client.Options) error {
	var err error
	m.starter, err = starter.Dial(ctx, opts, starter.Options{
		Environment:   m.Environment,
		TaskQueueBase: m.TaskQueueBase,
		Logger:        opts.Logger,
		// The trigger metrics of the worker's starter outside an activity;
		// the SDK's and the tasks' go to the client's handler, the same one.
		MetricsHandler: opts.MetricsHandler,
	})
	if err != nil {
		if errors.Is(err, once.ErrInvalidInput) {
			return err // refused before dialing: the environment
		}
		return fmt.Errorf("connect to Temporal at %s: %w", opts.HostPort, err)
	}
	return nil
}

// printRetention shows the namespace's retention, or why it is unknown.
func (m *Main) printRetention(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if retention, err := m.starter.Retention(ctx); err != nil {
		fmt.Fprintf(m.Stdout, "Retention        unknown (%v)\n", err)
	} else {
		// A closed run's key lives no longer, whatever its TTL.
		fmt.Fprintf(m.Stdout, "Retention        %s\n", formatRetention(retention))
	}
}

// searchAttributesMode is the worker's worker.SearchAttributesMode. With
// SearchAttributes it registers Once's search attributes first, logging
// a failure: runs are still found without them.
func (m *Main) searchAttributesMode(ctx context.Context, logger *slog.Logger) worker.SearchAttributesMode {
	if !m.SearchAttributes {
		return worker.SearchAttributesOff
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := worker.EnsureSearchAttributes(ctx, m.starter.Temporal(), m.starter.Namespace()); err != nil {
		logger.Warn("Once's search attributes are not registered; runs are still found by WorkflowType and WorkflowId", "error", err)
	}
	return worker.SearchAttributesAuto
}

// startWorker makes the worker on the starter's client, with the example
// tasks and their activities when Examples is set, and starts it polling.
func (m *Main) startWorker(logger sdklog.Logger, tracer interceptor.Tracer, saMode worker.SearchAttributesMode) error {
	var tasks []workflows.Definition
	if m.Examples {
		tasks = builtinExamples.tasks()
	}
	var err error
	m.worker, err = worker.New(m.starter, worker.Options{
		Tasks:            tasks,
		Logger:           logger,
		Tracer:           tracer,
		SearchAttributes: saMode,
	})
	if err != nil {
		return err
	}
	if m.Examples {
		builtinExamples.register(m.worker)
	}
	if err := m.worker.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	fmt.Fprintf(m.Stdout, "Worker           env %s, task queue %s, tasks %s\n", m.worker.Environment(), m.worker.TaskQueue(), strings.Join(m.worker.Tasks(), ", "))
	return nil
}

// formatRetention writes a retention in whole days as TTLs are written
// ("30d"), else as a Go duration ("36h0m0s").
func formatRetention(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// apiTokens are the HTTP API's tokens. Without any, the API serves without
// authentication only in dev mode on a loopback address.
//
// Errors: those of apiapp.LoadTokens; no tokens for an API that is not a
// dev-mode one on loopback.
func (m *Main) apiTokens() ([]httpapi.Token, error) {
	tokens, err := apiapp.LoadTokens(m.APITokensFile, m.Getenv("ONCE_API_TOKENS"))
	if err != nil {
		return nil, fmt.Errorf("HTTP API: %w", err)
	}
	if len(tokens) == 0 && (!m.Dev || !loopback(m.HTTPAddr)) {
		return nil, fmt.Errorf("HTTP API on %s: without tokens it serves only in dev mode on a loopback address: give --api-tokens-file or ONCE_API_TOKENS, or --http-addr \"\" for no API", m.HTTPAddr)
	}
	return tokens, nil
}

// loopback reports whether addr's host is a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveAPI serves the HTTP API on HTTPAddr, with a starter of the worker's
// connection that knows the worker's tasks: another task is 404, not a run
// that fails. Its requests are counted by the worker's metrics handler and
// traced by its tracer (nil: none), their triggers too.
func (m *Main) serveAPI(logger *slog.Logger, metrics client.MetricsHandler, tracer interceptor.Tracer) error {
	tokens, err := m.apiTokens()
	if err != nil {
		return err
	}
	o := m.starter.Options()
	o.Tasks = m.worker.Tasks()
	o.Tracer = tracer
	s, err := m.starter.With(o)
	if err != nil {
		return err
	}
	h, err := httpapi.New(s, httpapi.Options{Tokens: tokens, AllowUnauthenticated: len(tokens) == 0, MetricsHandler: metrics, Tracer: tracer})
	if err != nil {
		return err
	}
	m.apiURL, m.api, err = apiapp.Serve(h, httpapi.DefaultMaxWait, m.HTTPAddr, "", "", func(err error) { logger.Error("http api", "error", err) })
	return err
}

// APIURL is where the HTTP API serves, after Run: "http://127.0.0.1:7243";
// "" when off.
func (m *Main) APIURL() string { return m.apiURL }

// Client is the connected SDK client, after Run: the one the worker polls
// with, made by Starter.
func (m *Main) Client() client.Client {
	if m.starter == nil {
		return nil
	}
	return m.starter.Temporal()
}

// Starter is the starter the worker was made with, after Run: its
// environment, and the SDK client (Client) it dialed.
func (m *Main) Starter() *starter.Client { return m.starter }

// Close stops the worker (letting running work drain), the client and the
// embedded server, in that order. The data file stays intact.
func (m *Main) Close() error {
	if m.api != nil {
		ctx, cancel := context.WithTimeout(context.Background(), apiapp.ShutdownTimeout)
		if err := m.api.Shutdown(ctx); err != nil {
			_ = m.api.Close()
		}
		cancel()
	}
	if m.worker != nil {
		m.worker.Stop()
	}
	if m.metrics != nil {
		_ = m.metrics.Close()
	}
	if m.metScope != nil {
		_ = m.metScope.Close()
	}
	if err := m.shutdownTracing(); err != nil {
		fmt.Fprintf(m.Stderr, "tracing: %v\n", err)
	}
	if m.starter != nil {
		m.starter.Close()
	}
	if m.server != nil {
		return m.server.Stop()
	}
	return nil
}
