// Package apiapp is the API binary (cmd/api) as a library, so that
// end-to-end tests can drive it in-process: ParseFlags, Run, Close. It
// serves package httpapi over HTTP(S) for one namespace, configured like the
// worker: the temporal CLI's connection flags and precedence (codec flags
// included), envconfig, logging, --version. It is stateless: run as many
// replicas as needed.
package apiapp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/connection"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/cmd/internal/telemetry"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/starter/httpapi"
)

// DefaultAddress is the Temporal frontend the API connects to when nothing
// names an address.
const DefaultAddress = "127.0.0.1:7233"

// DefaultListen is where the API listens when --addr is not given.
const DefaultListen = "127.0.0.1:7243"

// ErrHelp is what ParseFlags returns after printing the help, the version or
// a token's hash: exit 0.
var ErrHelp = pflag.ErrHelp

// Main is the API program.
type Main struct {
	// Set by ParseFlags (or directly, in tests).
	Addr           string // listen address
	TLSCert        string // HTTPS certificate file; "" for HTTP
	TLSKey         string // its key file
	Environment    string // of requests without a token (--insecure-no-auth)
	TaskQueueBase  string
	Tasks          []string // the tasks the API may trigger; none: any
	TokensFile     string   // token list file (httpapi.ParseTokens)
	Tokens         string   // token list inline (ONCE_API_TOKENS)
	InsecureNoAuth bool     // accept requests without a token
	MaxWait        time.Duration
	LogLevel       string
	LogFormat      string
	MetricsAddr    string // Prometheus /metrics listen address; "" for none
	OTel           bool   // trace with OpenTelemetry (package telemetry)

	// TracerProvider receives the spans when OTel is on. Optional: defaults
	// to an OTLP exporter configured by the OTEL_* environment variables.
	TracerProvider trace.TracerProvider

	Stdout io.Writer
	Stderr io.Writer
	// Stdin is read by "api hash-token" without an argument. Optional:
	// defaults to os.Stdin.
	Stdin io.Reader
	// Getenv reads the environment. Optional: defaults to os.Getenv.
	Getenv func(string) string
	// Environ lists the environment as os.Environ does. Optional.
	Environ func() []string

	connFlags connection.Flags
	conn      *connection.Config

	starter *starter.Client
	server  *http.Server
	url     string

	metrics        *http.Server
	metAddr        string
	metScope       io.Closer
	tracerProvider *sdktrace.TracerProvider // the one Run made, shut down by Close
}

// NewMain returns a Main with the binary's defaults.
func NewMain() *Main {
	return &Main{
		Addr:        DefaultListen,
		Environment: once.DefaultEnvironment,
		MaxWait:     httpapi.DefaultMaxWait,
		LogLevel:    "info",
		LogFormat:   "text",
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		Stdin:       os.Stdin,
		Getenv:      os.Getenv,
		Environ:     os.Environ,
	}
}

const usage = `Serves Once's HTTP API (see /openapi.json) for one Temporal namespace.

It is stateless: run any number of replicas in front of one namespace. Each
bearer token is bound to one environment (and optionally some tasks); the
API stores only their SHA-256 hashes: a list in --tokens-file or
ONCE_API_TOKENS, one token a line (";" also separates them), each
"<sha256 hex> <environment> [task,task,…]". Without tokens it refuses to
start unless --insecure-no-auth (then every request acts in --env).

Where it connects: the temporal CLI's connection flags and precedence, as
the worker: a flag, else its environment variable (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_CODEC_*, …),
else the profile of the config file. With --codec-endpoint every payload
goes through that remote codec server, as the worker's do.

Usage:
  api [flags]
  api hash-token [TOKEN]     print a token's hash for the token list (stdin without TOKEN)

Examples:
  openssl rand -hex 32 | tee token.txt | api hash-token   # then "<hash> prod" in tokens.txt
  api --addr 0.0.0.0:7243 --tokens-file tokens.txt --address temporal.example:7233 -n orders
  api --tls-cert api.pem --tls-key api-key.pem --tokens-file tokens.txt
  api --insecure-no-auth --env dev           # loopback development only
  api --tokens-file tokens.txt --metrics-addr 127.0.0.1:9091 --otel

Flags:
`

// ParseFlags reads flags and environment variables, and resolves the
// connection.
//
// Errors: ErrHelp after --help, --version or hash-token; a bad flag, log
// level or format; a token list that cannot be read; no tokens without
// --insecure-no-auth; a config file or profile that cannot be read.
func (m *Main) ParseFlags(args []string) error {
	if m.Getenv == nil {
		m.Getenv, m.Environ = os.Getenv, os.Environ
	}
	if len(args) > 0 && args[0] == "hash-token" {
		return m.hashToken(args[1:])
	}
	fs := shared.NewFlags("api", usage, m.Getenv)
	envDefault := fs.EnvDefault
	fs.StringVar(&m.Addr, "addr", envDefault("ONCE_API_ADDR", m.Addr), "listen `ADDRESS` (env ONCE_API_ADDR)")
	fs.StringVar(&m.TLSCert, "tls-cert", envDefault("ONCE_API_TLS_CERT", m.TLSCert), "serve HTTPS with this certificate `FILE` (PEM; with --tls-key; env ONCE_API_TLS_CERT)")
	fs.StringVar(&m.TLSKey, "tls-key", envDefault("ONCE_API_TLS_KEY", m.TLSKey), "the certificate's key `FILE` (PEM; env ONCE_API_TLS_KEY)")
	fs.StringVar(&m.TokensFile, "tokens-file", envDefault("ONCE_API_TOKENS_FILE", m.TokensFile), "token list `FILE`: \"<sha256 hex> <env> [task,…]\" a line (env ONCE_API_TOKENS_FILE; ONCE_API_TOKENS holds a list inline)")
	fs.BoolVar(&m.InsecureNoAuth, "insecure-no-auth", m.InsecureNoAuth, "accept requests without a token when there are no tokens; they act in --env (development only)")
	fs.StringVar(&m.Environment, "env", envDefault("ONCE_ENV", m.Environment), "`ENVIRONMENT` of requests without a token, with --insecure-no-auth (env ONCE_ENV)")
	fs.StringVar(&m.TaskQueueBase, "task-queue", envDefault("ONCE_TASK_QUEUE", m.TaskQueueBase), "task-queue `PREFIX`, as the worker's (env ONCE_TASK_QUEUE, default \"once\")")
	tasks := fs.String("tasks", m.Getenv("ONCE_TASKS"), "comma-separated task `IDS` the API may trigger; another is 404 (env ONCE_TASKS, default any)")
	fs.DurationVar(&m.MaxWait, "max-wait", m.MaxWait, "the longest wait a request may ask for")
	fs.StringVar(&m.MetricsAddr, "metrics-addr", envDefault("ONCE_METRICS_ADDR", m.MetricsAddr), "serve Prometheus metrics on this `ADDRESS` at /metrics: the SDK's, and once_http_requests_total by route and status (env ONCE_METRICS_ADDR; default none)")
	fs.BoolVar(&m.OTel, "otel", shared.EnvBool(m.Getenv("ONCE_OTEL")), "trace requests with OpenTelemetry, a span per request under its traceparent, exporting over OTLP as the OTEL_EXPORTER_OTLP_* environment variables say (env ONCE_OTEL; default off)")
	fs.StringVar(&m.LogLevel, "log-level", envDefault("ONCE_LOG_LEVEL", m.LogLevel), "log `LEVEL`: debug, info, warn, error (env ONCE_LOG_LEVEL)")
	fs.StringVar(&m.LogFormat, "log-format", envDefault("ONCE_LOG_FORMAT", m.LogFormat), "log `FORMAT`: text or json (env ONCE_LOG_FORMAT)")
	m.connFlags.AddClientFlags(fs.FlagSet)
	m.connFlags.AddConfigFlags(fs.FlagSet)
	if err := fs.Parse(args, m.Stdout); err != nil {
		return err
	}
	if *tasks != "" {
		m.Tasks = strings.Split(*tasks, ",")
	}
	m.Tokens = m.Getenv("ONCE_API_TOKENS")
	if _, err := shared.NewLogger(io.Discard, m.LogLevel, m.LogFormat); err != nil {
		return err
	}
	if _, err := m.tokens(); err != nil {
		return err
	}
	cfg, err := m.connFlags.Resolve(fs.FlagSet, connection.EnvLookup(m.Getenv, m.Environ))
	if err != nil {
		return fmt.Errorf("client configuration: %w", err)
	}
	m.conn = cfg
	return nil
}

// hashToken prints the hash of the token in args, or of the first line of
// stdin.
func (m *Main) hashToken(args []string) error {
	var token string
	switch len(args) {
	case 0:
		in := m.Stdin
		if in == nil {
			in = os.Stdin
		}
		b, err := io.ReadAll(io.LimitReader(in, 1<<16))
		if err != nil {
			return err
		}
		token, _, _ = strings.Cut(string(b), "\n")
	case 1:
		token = args[0]
	default:
		return errors.New("hash-token takes one token (or reads it from stdin)")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return errors.New("hash-token: the token is empty")
	}
	fmt.Fprintln(m.Stdout, httpapi.HashToken(token))
	return ErrHelp
}

// tokens reads the token list of --tokens-file and ONCE_API_TOKENS.
//
// Errors: those of LoadTokens; no tokens without InsecureNoAuth.
func (m *Main) tokens() ([]httpapi.Token, error) {
	all, err := LoadTokens(m.TokensFile, m.Tokens)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 && !m.InsecureNoAuth {
		return nil, errors.New("no tokens: give --tokens-file or ONCE_API_TOKENS (hashes: see api hash-token), or --insecure-no-auth to serve without authentication")
	}
	return all, nil
}

// LoadTokens reads the token lists of a file (none when "") and of inline
// text (ONCE_API_TOKENS; none when ""), in httpapi.ParseTokens's format.
//
// Errors: a file that cannot be read, a list that cannot be parsed, the same
// hash in both.
func LoadTokens(file, inline string) ([]httpapi.Token, error) {
	var all []httpapi.Token
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("tokens file: %w", err)
		}
		defer f.Close()
		ts, err := httpapi.ParseTokens(f)
		if err != nil {
			return nil, fmt.Errorf("tokens file %s: %w", file, err)
		}
		all = append(all, ts...)
	}
	if inline != "" {
		ts, err := httpapi.ParseTokens(strings.NewReader(inline))
		if err != nil {
			return nil, fmt.Errorf("ONCE_API_TOKENS: %w", err)
		}
		all = append(all, ts...)
	}
	for i := range all {
		for j := range i {
			if subtle.ConstantTimeCompare(all[i].Hash[:], all[j].Hash[:]) == 1 {
				return nil, errors.New("the same token hash is in the tokens file and ONCE_API_TOKENS")
			}
		}
	}
	return all, nil
}

// Run connects to Temporal and serves the API; it returns once the API
// listens. Close stops it.
func (m *Main) Run(ctx context.Context) error {
	logger, err := shared.NewLogger(m.Stderr, m.LogLevel, shared.OrDefault(m.LogFormat, "text"))
	if err != nil {
		return err
	}
	tokens, err := m.tokens()
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
		opts.MetricsHandler, h, m.metScope = telemetry.NewMetrics(func(err error) { logger.Error("metrics", "error", err) })
		if m.metrics, m.metAddr, err = telemetry.ServeMetrics(m.MetricsAddr, h); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "Metrics          http://%s/metrics\n", m.metAddr)
	}
	var tracer interceptor.Tracer
	if m.OTel {
		var where string
		if tracer, where, m.tracerProvider, err = telemetry.NewTracer(ctx, m.TracerProvider, m.Getenv, defaultServiceName); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "Tracing          OpenTelemetry, to %s\n", where)
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.dialStarter(dialCtx, opts, tracer); err != nil {
		return err
	}
	h, err := httpapi.New(m.starter, httpapi.Options{
		Tokens:               tokens,
		AllowUnauthenticated: m.InsecureNoAuth,
		MaxWait:              m.MaxWait,
		Logger:               opts.Logger,
		MetricsHandler:       opts.MetricsHandler,
		Tracer:               tracer,
	})
	if err != nil {
		return err
	}
	m.url, m.server, err = Serve(h, m.MaxWait, m.Addr, m.TLSCert, m.TLSKey, func(err error) { logger.Error("http api", "error", err) })
	if err != nil {
		return err
	}
	auth := fmt.Sprintf("%d tokens", len(tokens))
	if len(tokens) == 0 {
		auth = "no authentication (--insecure-no-auth), env " + m.starter.Environment()
	}
	fmt.Fprintf(m.Stdout, "HTTP API         %s (%s)\n", m.url, auth)
	return nil
}

// clientOptions are the SDK client's options, from the connection
// (resolved from the environment when ParseFlags did not), which the banner
// shows.
func (m *Main) clientOptions() (client.Options, error) {
	opts, conn, err := m.connFlags.ClientOptions(m.conn, connection.EnvLookup(m.Getenv, m.Environ),
		DefaultAddress, "the default address", m.Stdout)
	m.conn = conn
	return opts, err
}

// dialStarter dials the starter the API triggers with, its SDK client made
// with opts, its triggers traced by tracer (nil: none).
//
// Errors: invalid starter options (once.ErrInvalidInput), before dialing;
// else starter.Dial's, with the address.
func (m *Main) dialStarter(ctx context.Context, opts client.Options, tracer interceptor.Tracer) error {
	var err error
	m.starter, err = starter.Dial(ctx, opts, starter.Options{
		Environment:    m.Environment,
		TaskQueueBase:  m.TaskQueueBase,
		Tasks:          m.Tasks,
		Logger:         opts.Logger,
		MetricsHandler: opts.MetricsHandler,
		Tracer:         tracer,
	})
	if err != nil {
		if errors.Is(err, once.ErrInvalidInput) {
			return err
		}
		return fmt.Errorf("connect to Temporal at %s: %w", opts.HostPort, err)
	}
	return nil
}

// Serve listens on addr (HTTPS with certFile and keyFile) and serves h
// with NewServer in the background; onError gets what Serve returns but
// for a Close.
func Serve(h http.Handler, maxWait time.Duration, addr, certFile, keyFile string, onError func(error)) (string, *http.Server, error) {
	l, url, err := Listen(addr, certFile, keyFile)
	if err != nil {
		return "", nil, err
	}
	srv := NewServer(h, maxWait)
	go func(l net.Listener) {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			onError(err)
		}
	}(l)
	return url, srv, nil
}

// URL is where the API serves, after Run: "http://127.0.0.1:7243".
func (m *Main) URL() string { return m.url }

// Starter is the starter the API was made with, after Run.
func (m *Main) Starter() *starter.Client { return m.starter }

// Client is the connected SDK client, after Run.
func (m *Main) Client() client.Client {
	if m.starter == nil {
		return nil
	}
	return m.starter.Temporal()
}

// Close stops serving (requests in flight get ShutdownTimeout to finish)
// and closes the client.
func (m *Main) Close() error {
	var err error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		err = m.server.Shutdown(ctx)
		cancel()
		if err != nil {
			_ = m.server.Close()
		}
	}
	if m.starter != nil {
		m.starter.Close()
	}
	if m.metrics != nil {
		_ = m.metrics.Close()
	}
	if m.metScope != nil {
		_ = m.metScope.Close()
	}
	if terr := telemetry.Shutdown(m.tracerProvider); terr != nil {
		fmt.Fprintf(m.Stderr, "tracing: %v\n", terr)
	}
	return err
}

// MetricsAddress is where /metrics is served, after Run; "" when off.
func (m *Main) MetricsAddress() string { return m.metAddr }

// defaultServiceName names the API's spans when OTEL_SERVICE_NAME is unset.
const defaultServiceName = "once-api"

// ShutdownTimeout is how long Close lets requests in flight finish.
const ShutdownTimeout = 10 * time.Second
