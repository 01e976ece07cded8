// Package starterapp is the starter CLI (cmd/starter, cmd/temporal-once) as
// a library, so that end-to-end tests can drive it in-process: NewMain, then
// Run with the arguments and the standard streams; Run returns the exit code.
//
// It speaks the temporal CLI's dialect (cobra and pflag, as the official CLI
// uses): GNU-style flags, the temporal CLI's connection flags with its
// precedence (flag > environment variable > profile of the config file),
// -o text|json|jsonl, --command-timeout, --version and shell completion.
//
// Exit codes: 0 success; 1 runtime failure (server unreachable, no run for
// the key, a run that failed with --wait, a command timeout, …); 2 invalid
// input or usage (bad flags, payload that is not JSON, bad TTL, scope, task,
// environment or key: every error that matches once.ErrInvalidInput; and a
// --strict key reused with another payload,
// starter.ErrKeyReusedWithDifferentPayload). Errors are one line
// "starter: <reason>" on stderr.
package starterapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/term"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/connection"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/plan"
	"github.com/once-run/once/starter"
)

// DefaultDialTimeout bounds connecting to the Temporal server.
const DefaultDialTimeout = 10 * time.Second

// DefaultAddress is the Temporal frontend used when no flag, environment
// variable or profile names one: the local dev server.
const DefaultAddress = "127.0.0.1:7233"

// Main is the starter program.
type Main struct {
	// Name is the program's name: the root command's, and the one shell
	// completion scripts complete. Optional: defaults to "starter".
	Name string
	// DisplayName is how help and error messages name the program, e.g.
	// "temporal once" when the temporal CLI runs it as an extension.
	// Optional: defaults to Name.
	DisplayName string
	// Version is what --version prints. Optional: defaults to the build's
	// module version, commit and SDK version (shared.Version).
	Version string
	// Getenv reads the environment (ONCE_ENV, ONCE_TASK_QUEUE, ONCE_TASKS,
	// ONCE_SEARCH_ATTRIBUTES and the TEMPORAL_* variables of the SDK's
	// envconfig). Optional: defaults to os.Getenv.
	Getenv func(string) string
	// Environ lists the environment as os.Environ does (envconfig reads
	// TEMPORAL_GRPC_META_* from it). Optional: defaults to os.Environ when
	// Getenv is nil, else to none.
	Environ func() []string
	// DialTimeout bounds connecting unless --client-connect-timeout is given.
	// Optional: defaults to DefaultDialTimeout.
	DialTimeout time.Duration
	// IsTerminal reports whether w is a terminal (batch shows a progress bar
	// on stderr only then). Optional: defaults to a check of the file's mode.
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

// exitCode maps an error to the exit code: 2 for the caller's input (an
// input error, or a strict trigger whose key was used with another payload:
// the caller must change the key or the payload), else 1.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, once.ErrInvalidInput), errors.Is(err, starter.ErrKeyReusedWithDifferentPayload):
		return 2
	}
	return 1
}

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
	if cfg.Name == "" {
		cfg.Name = "starter"
	}
	if cfg.DisplayName == "" {
		cfg.DisplayName = cfg.Name
	}
	if cfg.Version == "" {
		cfg.Version = shared.Version()
	}
	r := &runner{m: &cfg, stdin: stdin, stdout: stdout, stderr: stderr}
	root := r.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && r.cmdCtx != nil && ctx.Err() == nil && r.timedOut(err) {
		err = fmt.Errorf("--command-timeout %s passed: %w", r.commandTimeout, err)
	}
	if r.cancel != nil {
		r.cancel()
	}
	var ee *exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(stderr, "%s: %s\n", cfg.DisplayName, oneLine(err.Error()))
	}
	return exitCode(err)
}

// timedOut reports whether err ended the command because of
// --command-timeout: its context's deadline passed, or err is a deadline
// error (the SDK ends a wait on a deadline of its own derived from the
// command's, and then returns the server's DeadlineExceeded rather than the
// context's error).
func (r *runner) timedOut(err error) bool {
	var server *serviceerror.DeadlineExceeded
	return errors.Is(r.cmdCtx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &server)
}

// runner is one invocation: the streams and the values of the flags every
// command shares.
type runner struct {
	m      *Main
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	output         string
	jsonAlias      bool
	commandTimeout time.Duration
	connectTimeout time.Duration
	logLevel       string
	logFormat      string
	env            string
	taskQueue      string
	tasks          string // --tasks: comma-separated task IDs; "" for any
	strictTTL      bool   // trigger --strict-ttl
	conn           connection.Flags

	cmdCtx context.Context    // bounded by --command-timeout; nil without
	cancel context.CancelFunc // of cmdCtx
}

// outputFormats are the values of -o.
var outputFormats = []string{"text", "json", "jsonl"}

const rootLong = `Triggers Once tasks idempotently: the same task and key never create a second run.

Connection: the temporal CLI's flags and precedence. Each setting comes from
its flag, else its environment variable (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_CODEC_*, …), else the profile of the
config file (--profile / TEMPORAL_PROFILE of --config-file /
TEMPORAL_CONFIG_FILE, as "temporal config set" writes it); without any address,
127.0.0.1:7233. With --codec-endpoint every payload (input, result, memo) goes
through that remote codec server.

Environment (of Once, not Temporal's): --env, else ONCE_ENV, else "dev". Runs
get Once's optional search attributes only with ONCE_SEARCH_ATTRIBUTES=true.
--tasks (ONCE_TASKS) lists the tasks a command may name, comma-separated:
another is refused (exit 2) before anything starts. A task's retry policy and
timeouts are its own, applied by the worker.

Output: -o text (default), json (indented) or jsonl (one compact JSON value per
line; --json is the same). Errors are one line on stderr.

Exit codes: 0 ok, 1 runtime failure, 2 invalid input or usage (a --strict key
reused with another payload included).`

// usageTemplate is cobra's default with the usage on one line.
const usageTemplate = `Usage: {{if .HasAvailableSubCommands}}{{.CommandPath}} <command> [flags]{{else}}{{.UseLine}}{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} <command> --help" for more information about a command.{{end}}
`

// rootCommand builds the command tree of one invocation.
func (r *runner) rootCommand() *cobra.Command {
	name := r.m.DisplayName
	root := &cobra.Command{
		Use:         r.m.Name,
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: name},
		Short:       "Trigger Once tasks idempotently",
		Long:        rootLong,
		Example: example(name, `trigger hello --key order-42 --payload '{"name":"Ada"}' --wait`,
			`describe hello --key order-42 --output json`,
			`batch hello --file items.jsonl --batch-key import-7 --address temporal.example:7233`,
			`completion bash > /etc/bash_completion.d/`+r.m.Name),
		Version:           r.m.Version,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              r.noCommand,
		RunE:              func(*cobra.Command, []string) error { return nil }, // Args always fails
		PersistentPreRunE: r.prepare,
	}
	root.SetIn(r.stdin)
	root.SetOut(r.stdout)
	root.SetErr(r.stderr)
	root.SetUsageTemplate(usageTemplate)
	root.SetVersionTemplate(`{{.DisplayName}} version {{.Version}}` + "\n")
	root.SetFlagErrorFunc(r.flagError)

	pf := root.PersistentFlags()
	pf.SortFlags = false
	pf.StringVarP(&r.output, "output", "o", "text", "output `FORMAT`: text, json or jsonl")
	pf.BoolVar(&r.jsonAlias, "json", false, "same as --output jsonl")
	pf.StringVar(&r.env, "env", r.envOr("ONCE_ENV", once.DefaultEnvironment), "Once `ENVIRONMENT` of the tasks (env ONCE_ENV)")
	pf.DurationVar(&r.commandTimeout, "command-timeout", 0, "bound the whole command, e.g. 30s (default none)")
	pf.DurationVar(&r.connectTimeout, "client-connect-timeout", 0, fmt.Sprintf("bound connecting to the server (default %s)", DefaultDialTimeout))
	r.conn.AddConfigFlags(pf)
	pf.StringVar(&r.logLevel, "log-level", "warn", "level of the client's log on stderr: debug, info, warn, error or never")
	pf.StringVar(&r.logFormat, "log-format", "text", "format of the client's log: text or json")
	// Flags the temporal CLI passes to an extension; they change nothing here.
	for _, name := range []string{"color", "time-format"} {
		pf.String(name, "", "accepted for the temporal CLI; not used")
		_ = pf.MarkHidden(name)
	}
	pf.Bool("no-json-shorthand-payloads", false, "accepted for the temporal CLI; not used")
	_ = pf.MarkHidden("no-json-shorthand-payloads")
	_ = root.RegisterFlagCompletionFunc("output", fixedCompletion(outputFormats...))
	_ = root.RegisterFlagCompletionFunc("log-level", fixedCompletion("debug", "info", "warn", "error", "never"))
	_ = root.RegisterFlagCompletionFunc("log-format", fixedCompletion(shared.LogFormats...))

	root.AddCommand(r.triggerCommand(), r.batchCommand(), r.resetCommand(), r.describeCommand(), r.historyCommand(), r.keyCommand())
	r.initDefaultCommands(root)
	return root
}

// initDefaultCommands adds cobra's help and completion commands now, to give
// them examples.
func (r *runner) initDefaultCommands(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	name := root.DisplayName()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = example(name, "help trigger")
		case "completion":
			c.Example = example(name, "completion bash > ~/.local/share/bash-completion/completions/"+r.m.Name,
				"completion zsh > \"${fpath[1]}/_"+r.m.Name+"\"")
			for _, sh := range c.Commands() {
				sh.Example = example(name, "completion "+sh.Name())
			}
			// Runnable, so that a missing or unknown shell is a usage error
			// rather than help.
			c.Args = r.noCommand
			c.RunE = func(*cobra.Command, []string) error { return nil }
		}
	}
}

// example formats invocations of the program as an Examples section.
func example(name string, lines ...string) string {
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("  " + name + " " + l)
	}
	return b.String()
}

// flagError is the error of c's flags that do not parse. On a command that
// only groups others (the root, completion), an argument before the bad flag
// that names no command is what went wrong ("starter trgger hello --key x"
// has no flag --key because there is no command trgger): it is reported as
// an unknown command. The program's name is not repeated: Run prefixes it.
func (r *runner) flagError(c *cobra.Command, err error) error {
	if c.HasAvailableSubCommands() {
		if args := c.Flags().Args(); len(args) > 0 {
			return r.noCommand(c, args)
		}
	}
	if !c.HasParent() {
		return usagef("%v (see %s --help)", err, c.CommandPath())
	}
	return usagef("%s: %v (see %s --help)", c.Name(), err, c.CommandPath())
}

// noCommand is the argument check of a command that only groups others:
// a subcommand is required.
func (r *runner) noCommand(c *cobra.Command, args []string) error {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	want := strings.Join(names, ", ")
	what := "command"
	if c.HasParent() {
		what = c.Name() + " command"
	}
	if len(args) == 0 {
		return usagef("missing %s: want one of %s (see %s --help)", what, want, c.CommandPath())
	}
	return usagef("unknown %s %q: want one of %s (see %s --help)", what, args[0], want, c.CommandPath())
}

// prepare checks the shared flags and applies --command-timeout.
func (r *runner) prepare(c *cobra.Command, _ []string) error {
	if r.jsonAlias {
		if c.Flags().Changed("output") && r.output != "jsonl" {
			return usagef("--json is --output jsonl; it contradicts --output %s", r.output)
		}
		r.output = "jsonl"
	}
	if !slices.Contains(outputFormats, r.output) {
		return usagef("--output %q: want text, json or jsonl", r.output)
	}
	if r.commandTimeout < 0 || r.connectTimeout < 0 {
		return usagef("--command-timeout and --client-connect-timeout must not be negative")
	}
	if _, err := shared.NewLogger(io.Discard, r.logLevel, r.logFormat); err != nil {
		return usagef("%v", err)
	}
	if r.commandTimeout > 0 {
		r.cmdCtx, r.cancel = context.WithTimeout(c.Context(), r.commandTimeout)
		c.SetContext(r.cmdCtx)
	}
	return nil
}

// addConnectFlags adds the flags of the commands that talk to the server.
func (r *runner) addConnectFlags(c *cobra.Command) {
	fs := c.Flags()
	fs.SortFlags = false
	fs.StringVar(&r.taskQueue, "task-queue", r.getenv("ONCE_TASK_QUEUE"), "task-queue `PREFIX`; the queue is \"<prefix>-<env>\" (env ONCE_TASK_QUEUE, default \"once\")")
	fs.StringVar(&r.tasks, "tasks", r.getenv("ONCE_TASKS"), "comma-separated task `IDS` the command may name; another task is refused (env ONCE_TASKS, default any)")
	r.conn.AddClientFlags(fs)
}

func (r *runner) getenv(name string) string { return r.m.Getenv(name) }

// envOr is the value of the environment variable name, or def.
func (r *runner) envOr(name, def string) string {
	if v := r.getenv(name); v != "" {
		return v
	}
	return def
}

// fixedCompletion completes a flag or argument from a fixed list.
func fixedCompletion(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeTask completes the first argument with the tasks of --tasks
// (ONCE_TASKS), else those this repository registers (the examples; none in
// a -tags nodev build).
func (r *runner) completeTask(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if ids := r.taskList(); len(ids) > 0 {
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
	return exampleTaskIDs(), cobra.ShellCompDirectiveNoFileComp
}

// taskList is --tasks (or ONCE_TASKS) as a list: the IDs between commas,
// trimmed, the empty ones left out; nil for any task.
func (r *runner) taskList() []string {
	var ids []string
	for _, id := range strings.Split(r.tasks, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// taskArgs is the argument check of a command on one task: a valid task
// ID, and one of --tasks when it names any.
func (r *runner) taskArgs(c *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("%s: want exactly one task argument, got %d (see %s --help)", c.Name(), len(args), c.CommandPath())
	}
	if err := idempotency.ValidateTaskID(args[0]); err != nil {
		return fmt.Errorf("task %q: %w", args[0], err)
	}
	ids := r.taskList()
	for _, id := range ids {
		if err := idempotency.ValidateTaskID(id); err != nil {
			return fmt.Errorf("--tasks: task %q: %w", id, err)
		}
	}
	if len(ids) > 0 && !slices.Contains(ids, args[0]) {
		return usagef("unknown task %q: --tasks (ONCE_TASKS) names only %s", args[0], strings.Join(ids, ", "))
	}
	return nil
}

// keyParts resolves key parts once, to the global key (plan.Outside; see
// checkBlank too): what the starter is given is not resolved again, and
// keeps the parts' text for the run's memo.
func keyParts(parts []string) (idempotency.TriggerKey, error) {
	if err := checkBlank(parts); err != nil {
		return idempotency.TriggerKey{}, err
	}
	return plan.Outside(idempotency.Parts(parts))
}

// checkBlank refuses key parts that are all white space: they count as
// empty, as the library counts parts without text (idempotency.ErrEmptyKey),
// so that --key " " is refused as --key "" is.
func checkBlank(parts []string) error {
	if len(parts) > 0 && !slices.ContainsFunc(parts, func(p string) bool { return strings.TrimSpace(p) != "" }) {
		return fmt.Errorf("parts %q have no text but white space: %w", parts, idempotency.ErrEmptyKey)
	}
	return nil
}

// checkEnv validates --env (or ONCE_ENV).
func (r *runner) checkEnv() error {
	if err := idempotency.ValidateEnvironment(r.env); err != nil {
		return fmt.Errorf("--env %q: %w", r.env, err)
	}
	return nil
}

// connect resolves the connection from c's flags, the environment and the
// profile, dials and returns a starter client; close it with the returned
// function.
func (r *runner) connect(c *cobra.Command) (*starter.Client, func(), error) {
	ctx := c.Context()
	if err := r.checkEnv(); err != nil {
		return nil, nil, err
	}
	cfg, err := r.conn.Resolve(c.Flags(), connection.EnvLookup(r.m.Getenv, r.m.Environ))
	if err != nil {
		return nil, nil, usagef("client configuration: %v", err)
	}
	opts, err := cfg.ClientOptions(DefaultAddress)
	if err != nil {
		return nil, nil, usagef("client configuration: %v", err)
	}
	logger, err := shared.NewLogger(r.stderr, r.logLevel, r.logFormat)
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	opts.Logger = shared.DiscardLogger()
	timeout := r.connectTimeout
	if timeout <= 0 {
		timeout = r.m.DialTimeout
	}
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	searchAttrs, _ := strconv.ParseBool(r.getenv("ONCE_SEARCH_ATTRIBUTES"))
	// The SDK client that Dial makes from opts is the one every command
	// reads through too (results, describe, history), so its data converter
	// (a remote codec with --codec-endpoint) decodes what it encoded.
	s, err := starter.Dial(dctx, opts, starter.Options{
		Environment:   r.env,
		TaskQueueBase: r.taskQueue,
		Logger:        sdklog.NewStructuredLogger(logger),
		// As the worker: Once's search attributes only when asked for.
		SearchAttributes: searchAttrs,
		// The tasks the CLI may name (--tasks): another is refused before
		// any start. A task's retry policy and timeouts are the worker's.
		Tasks: r.taskList(),
		// trigger --strict-ttl: a TTL beyond the retention is an input error.
		RefuseTTLBeyondRetention: r.strictTTL,
	})
	switch {
	case err == nil:
		return s, s.Close, nil
	case ctx.Err() != nil:
		return nil, nil, ctx.Err()
	case errors.Is(err, once.ErrInvalidInput), errors.Is(err, starter.ErrUnsupportedClientOption):
		return nil, nil, err // refused before dialing
	}
	if opts.ConnectionOptions.TLS != nil && isTLSHandshakeError(err) {
		return nil, nil, fmt.Errorf("connect to %s with TLS: the TLS handshake failed (%v): if the server is plaintext, connect without --tls (or with --tls=false)", opts.HostPort, err)
	}
	return nil, nil, fmt.Errorf("connect to %s: %w (%v)", opts.HostPort, starter.ErrServerUnreachable, err)
}

// withClient connects (see connect), calls fn with the client and closes
// the client when fn returns.
func (r *runner) withClient(c *cobra.Command, fn func(s *starter.Client) error) error {
	s, closeClient, err := r.connect(c)
	if err != nil {
		return err
	}
	defer closeClient()
	return fn(s)
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

// isTLSHandshakeError reports a dial that failed in the TLS handshake: the
// server answered, but not with TLS (or with a certificate not trusted).
func isTLSHandshakeError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "tls:") || strings.Contains(msg, "authentication handshake failed")
}
