// Package starterapp is the starter CLI (cmd/starter) as a library, so that
// end-to-end tests can drive it in-process: NewMain, then Run with the
// arguments and the standard streams; Run returns the exit code.
//
// Exit codes: 0 success; 1 runtime failure (server unreachable, no run for
// the key, a run that failed with --wait, …); 2 invalid input or usage (bad
// flags, payload that is not JSON, bad TTL, scope, task, environment or
// key). Errors are one line "starter: <reason>" on stderr.
package starterapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/once-run/once"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/term"

	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// DefaultDialTimeout bounds connecting to the Temporal server.
const DefaultDialTimeout = 10 * time.Second

// DefaultAddress is the Temporal frontend used when TEMPORAL_ADDRESS (or
// the profile) names none: the local dev server.
const DefaultAddress = "127.0.0.1:7233"

// Main is the starter program.
type Main struct {
	// Getenv reads the environment (ONCE_ENV, ONCE_TASK_QUEUE and the
	// TEMPORAL_* variables of the SDK's envconfig). Optional: defaults to
	// os.Getenv.
	Getenv func(string) string
	// Environ lists the environment as os.Environ does (envconfig reads
	// TEMPORAL_GRPC_META_* from it). Optional: defaults to os.Environ when
	// Getenv is nil, else to none.
	Environ func() []string
	// DialTimeout bounds connecting. Optional: defaults to DefaultDialTimeout.
	DialTimeout time.Duration
	// IsTerminal reports whether w is a terminal (batch progress goes to
	// stderr only then). Optional: defaults to a check of the file's mode.
	IsTerminal func(w io.Writer) bool
}

// NewMain returns a Main with the binary's defaults.
func NewMain() *Main {
	return &Main{Getenv: os.Getenv, Environ: os.Environ, DialTimeout: DefaultDialTimeout, IsTerminal: isTerminal}
}

// usageError is invalid usage or input: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Is makes a usage error an input error like the library's.
func (e *usageError) Is(target error) bool { return target == once.ErrInvalidInput }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit code with an already reported failure.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// isInputError reports whether err means the caller's input is invalid:
// a usage error, or any of the library's (once.ErrInvalidInput).
func isInputError(err error) bool {
	return errors.Is(err, once.ErrInvalidInput)
}

// exitCode maps an error to the exit code.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		return ee.code
	case isInputError(err):
		return 2
	}
	return 1
}

const usage = `Usage: starter <command> [arguments]

Triggers Once tasks idempotently: the same task and key never create a second run.

Commands:
  trigger <task>   trigger a task (optionally wait for its result)
  batch <task>     trigger a task once per line of a JSONL file
  reset <task>     make the next trigger with a key start a new run
  describe <task>  show the run that holds a key
  history <task>   write every attempt of a key's run as replay files
  key PART...      print the 64-hex idempotency key of some parts

Run "starter <command> --help" for a command's flags.

Connection: TEMPORAL_ADDRESS (default 127.0.0.1:7233), TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TLS settings and profiles, as the Temporal SDK's envconfig
reads them. Environment: --env, else ONCE_ENV, else "dev".

Exit codes: 0 ok, 1 runtime failure, 2 invalid input or usage.
`

// Run runs the program with args (without the program name) and returns the
// exit code.
func (m *Main) Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg := *m
	if cfg.Getenv == nil {
		cfg.Getenv, cfg.Environ = os.Getenv, os.Environ
	}
	if cfg.IsTerminal == nil {
		cfg.IsTerminal = isTerminal
	}
	r := &runner{m: &cfg, stdin: stdin, stdout: stdout, stderr: stderr}
	err := r.run(ctx, args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		var ee *exitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(stderr, "starter:", oneLine(err.Error()))
		}
	}
	return exitCode(err)
}

// runner is one invocation.
type runner struct {
	m      *Main
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (r *runner) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("missing command: want trigger, batch, reset, describe, history or key (see starter --help)")
	}
	switch cmd := args[0]; cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(r.stdout, usage)
		return nil
	case "trigger":
		return r.trigger(ctx, args[1:])
	case "batch":
		return r.batch(ctx, args[1:])
	case "reset":
		return r.reset(ctx, args[1:])
	case "describe":
		return r.describe(ctx, args[1:])
	case "history":
		return r.history(ctx, args[1:])
	case "key":
		return r.key(args[1:])
	default:
		return usagef("unknown command %q: want trigger, batch, reset, describe, history or key (see starter --help)", cmd)
	}
}

func (r *runner) getenv(name string) string { return r.m.Getenv(name) }

// envOr is the value of the environment variable name, or def.
func (r *runner) envOr(name, def string) string {
	if v := r.getenv(name); v != "" {
		return v
	}
	return def
}

// newFlagSet returns a flag set that reports errors without printing them
// (Run prints one line) and prints usage on --help.
func (r *runner) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(r.stdout)
		fmt.Fprintf(r.stdout, "Usage: starter %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.Usage()
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// commonFlags are the flags of the commands that talk to the server.
type commonFlags struct {
	env       string
	taskQueue string
}

func (r *runner) addCommon(fs *flag.FlagSet) *commonFlags {
	c := &commonFlags{}
	fs.StringVar(&c.env, "env", r.envOr("ONCE_ENV", once.DefaultEnvironment), "environment (env ONCE_ENV)")
	fs.StringVar(&c.taskQueue, "task-queue", r.getenv("ONCE_TASK_QUEUE"), `task-queue prefix; the queue is "<prefix>-<env>" (env ONCE_TASK_QUEUE, default "once")`)
	return c
}

// taskArg returns the one positional task argument, validated.
func taskArg(cmd string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("%s: want exactly one task argument, got %d (see starter %s --help)", cmd, len(pos), cmd)
	}
	if err := idempotency.ValidateTaskID(pos[0]); err != nil {
		return "", fmt.Errorf("task %q: %w", pos[0], err)
	}
	return pos[0], nil
}

// keyParts validates key parts as a global key would be derived.
func keyParts(parts []string) (idempotency.Parts, error) {
	if _, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, parts...); err != nil {
		return nil, err
	}
	return idempotency.Parts(parts), nil
}

// envLookup adapts Main's environment functions to envconfig.
type envLookup struct{ m *Main }

func (e envLookup) Environ() []string {
	if e.m.Environ == nil {
		return nil
	}
	return e.m.Environ()
}

func (e envLookup) LookupEnv(name string) (string, bool) {
	v := e.m.Getenv(name)
	return v, v != ""
}

// connect dials the server and returns a starter client; close it with
// the returned function.
func (r *runner) connect(ctx context.Context, c *commonFlags) (*starter.Client, func(), error) {
	if err := idempotency.ValidateEnvironment(c.env); err != nil {
		return nil, nil, fmt.Errorf("--env %q: %w", c.env, err)
	}
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{EnvLookup: envLookup{r.m}})
	if err != nil {
		return nil, nil, usagef("client configuration: %v", err)
	}
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(r.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	opts.Logger = shared.DiscardLogger()
	if opts.HostPort == "" {
		opts.HostPort = DefaultAddress
	}
	address := opts.HostPort
	timeout := r.m.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tc, err := client.DialContext(dctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("connect to %s: %w (%v)", address, starter.ErrServerUnreachable, err)
	}
	s, err := starter.New(tc, starter.Options{
		Environment:   c.env,
		TaskQueueBase: c.taskQueue,
		Namespace:     opts.Namespace,
		Logger:        logger,
		// The tasks this repository's worker registers: their retry
		// policies and timeouts apply to starts from the CLI.
		Tasks: workflows.StarterTasks(examples.Tasks()...),
	})
	if err != nil {
		tc.Close()
		return nil, nil, err
	}
	return s, tc.Close, nil
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
