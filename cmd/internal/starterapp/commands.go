package starterapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// triggerOutput is trigger's JSON output.
type triggerOutput struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	Cached     bool   `json:"cached"`
	// ExpiresAt is the key's effective expiry (starter.Run.ExpiresAt) and
	// ExpiryBound what sets it: "ttl" or "retention"; none when unknown.
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	ExpiryBound string     `json:"expiryBound,omitempty"`
	// Debounced: the trigger joined a burst (--debounce-key); WorkflowID is
	// the burst's run, RunID "" until it starts.
	Debounced bool            `json:"debounced,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     string          `json:"error,omitempty"`
}

func (r *runner) triggerCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "trigger <task>",
		Short: "Trigger a task (optionally wait for its result)",
		Long: `Trigger a task with an idempotency key: the same task and key return the
run that exists (cached) instead of starting a second one.`,
		Example: example(r.m.DisplayName,
			`trigger hello --key order-42 --payload '{"name":"Ada"}'`,
			`trigger hello --key order-42 --payload @payload.json --wait --output json`,
			`trigger my-task --key customer-7 --key invoice-9 --ttl 12h --retry-failed --strict-ttl`,
			`trigger charge --key order-42 --on-failure release`,
			`trigger hello --payload @- --namespace staging --env prod < payload.json`,
			`trigger hello --payload '{"name":"Ada"}' --debounce-key user-7 --debounce-delay 500ms --debounce-mode trailing --debounce-max-delay 5s`),
		Args:              r.taskArgs,
		ValidArgsFunction: r.completeTask,
	}
	fs := c.Flags()
	fs.SortFlags = false
	payloadArg := fs.String("payload", "", "payload: `JSON` text, or @file to read it from a file (@- for stdin)")
	var keys []string
	fs.StringArrayVar(&keys, "key", nil, "idempotency key `PART`; can be passed multiple times (parts are joined with \"-\" and hashed)")
	scopeArg := fs.String("scope", "", "key `SCOPE`: run, attempt or global (outside a task all three give the global key)")
	ttlArg := fs.String("ttl", "", "key time to live `TTL`, e.g. \"30d\", \"12h\", \"90m\" or \"1h30m\" (default 30d)")
	retryFailed := fs.Bool("retry-failed", false, "start a new run when the key's run failed, timed out, was canceled or terminated")
	strict := fs.Bool("strict", false, "fail when the key's run was triggered with a different payload")
	onFailure := onFailureFlag(c)
	wait := fs.Bool("wait", false, "wait for the run and print its result")
	fs.BoolVar(&r.strictTTL, "strict-ttl", false, "refuse (exit 2, nothing started) a TTL longer than the namespace's retention, after which a closed run's key is forgotten whatever its TTL (default: a warning)")
	debounceKey := fs.String("debounce-key", "", "debounce `KEY`: the triggers of the task with this key make one run per burst (no --key, --scope, --ttl, --retry-failed, --strict with it)")
	debounceDelay := fs.Duration("debounce-delay", 0, "the quiet `DURATION` that ends a burst, e.g. 500ms, 5s (required with --debounce-key)")
	debounceMode := fs.String("debounce-mode", "", "`MODE` leading (the run starts at once with the first payload; the default) or trailing (after the quiet period, with the last payload)")
	debounceMaxDelay := fs.Duration("debounce-max-delay", 0, "the longest a burst lasts from its first trigger, `DURATION` (default none)")
	r.addConnectFlags(c)
	_ = c.RegisterFlagCompletionFunc("scope", fixedCompletion("run", "attempt", "global"))
	_ = c.RegisterFlagCompletionFunc("debounce-mode", fixedCompletion(string(once.DebounceLeading), string(once.DebounceTrailing)))

	c.RunE = func(c *cobra.Command, args []string) error {
		task := args[0]
		opts := starter.TriggerOptions{RetryFailed: *retryFailed, Strict: *strict}
		var err error
		if opts.OnFailure, err = once.ParseFailurePolicy(*onFailure); err != nil {
			return fmt.Errorf("--on-failure: %w", err)
		}
		if opts.Scope, err = idempotency.ParseScope(*scopeArg); err != nil {
			return fmt.Errorf("--scope: %w", err)
		}
		if *ttlArg != "" {
			if opts.TTL, err = idempotency.ParseTTL(*ttlArg); err != nil {
				return fmt.Errorf("--ttl: %w", err)
			}
		}
		if len(keys) > 0 {
			if opts.Key, err = keyParts(keys); err != nil {
				return fmt.Errorf("--key: %w", err)
			}
		} else if *strict {
			return usagef("--strict needs --key")
		}
		if *debounceKey != "" {
			opts.Debounce = &starter.Debounce{Key: *debounceKey, Delay: *debounceDelay, MaxDelay: *debounceMaxDelay, Mode: once.DebounceMode(*debounceMode)}
		} else if *debounceDelay != 0 || *debounceMaxDelay != 0 || *debounceMode != "" {
			return usagef("--debounce-delay, --debounce-mode and --debounce-max-delay need --debounce-key")
		}
		payload, err := r.readPayload(*payloadArg)
		if err != nil {
			return err
		}
		return r.withClient(c, func(s *starter.Client) error {
			return r.trigger(c.Context(), s, task, payload, opts, *wait)
		})
	}
	return c
}

// trigger triggers task with s and prints the run (and its result with
// wait); the trigger's error is returned after the run is printed.
func (r *runner) trigger(ctx context.Context, s *starter.Client, task string, payload any, opts starter.TriggerOptions, wait bool) error {
	var result json.RawMessage
	var run *starter.Run
	var err error
	if wait {
		run, err = s.TriggerAndWait(ctx, task, payload, &result, opts)
	} else {
		run, err = s.Trigger(ctx, task, payload, opts)
	}
	debounced := opts.Debounce != nil
	if run == nil || (run.RunID == "" && !debounced) {
		return err // nothing to report but the error
	}
	out := triggerOutput{WorkflowID: run.WorkflowID, RunID: run.RunID, Cached: run.Cached, Debounced: debounced}
	if wait && err == nil {
		out.Result = result
		if len(out.Result) == 0 {
			out.Result = json.RawMessage("null")
		}
	}
	if err != nil {
		out.Error = oneLine(err.Error())
	}
	if !run.ExpiresAt.IsZero() {
		exp := run.ExpiresAt.UTC()
		out.ExpiresAt, out.ExpiryBound = &exp, string(run.ExpiryBound)
	}
	if printErr := r.printValue(out, func(w io.Writer) {
		what := "started"
		switch {
		case out.Debounced && out.RunID == "":
			fmt.Fprintf(w, "debounced  workflow %s  (the burst's run)\n", out.WorkflowID)
		case out.Cached:
			what = "cached "
			fallthrough
		default:
			fmt.Fprintf(w, "%s  workflow %s  run %s\n", what, out.WorkflowID, out.RunID)
		}
		if out.ExpiresAt != nil {
			fmt.Fprintf(w, "expires  %s (%s)\n", out.ExpiresAt.Format(time.RFC3339), out.ExpiryBound)
		}
		if out.Result != nil {
			fmt.Fprintf(w, "result   %s\n", out.Result)
		}
	}); printErr != nil {
		return printErr
	}
	return err
}

// readPayload reads --payload: JSON text or @file; nil when empty.
//
// Errors (input errors): a file that cannot be read, an empty or blank
// input, text that is not JSON (with where it breaks).
func (r *runner) readPayload(arg string) (any, error) {
	if arg == "" {
		return nil, nil
	}
	data := []byte(arg)
	what := "--payload" // names the input in errors
	if name, ok := strings.CutPrefix(arg, "@"); ok {
		var err error
		if name == "-" {
			what = "--payload @- (stdin)"
			data, err = io.ReadAll(r.stdin)
		} else {
			what = "--payload @" + name
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, usagef("--payload: read %s: %v", name, err)
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		switch {
		case arg == "@-":
			return nil, usagef("%s: stdin was empty: pipe JSON text in, or leave --payload out for no payload", what)
		case strings.HasPrefix(arg, "@"):
			return nil, usagef("%s: the file is empty: write JSON text in it, or leave --payload out for no payload", what)
		}
		return nil, usagef("%s is blank: pass JSON text, or leave --payload out for no payload", what)
	}
	if !json.Valid(data) {
		return nil, usagef("%s is not valid JSON: %s", what, jsonSyntaxError(data))
	}
	return json.RawMessage(data), nil
}

// jsonSyntaxError says why data is not JSON and where it breaks: the byte
// offset, and the line and column (in characters) of the byte the parser
// stopped at.
func jsonSyntaxError(data []byte) string {
	err := json.Unmarshal(data, new(json.RawMessage))
	var se *json.SyntaxError
	if !errors.As(err, &se) || se.Offset <= 0 {
		if err == nil {
			return "invalid JSON"
		}
		return err.Error()
	}
	// The parser reports how many bytes it read: the offending one
	// included, or all of them when the text ends early; then the place is
	// the text's last byte that is not white space.
	end, where := min(int(se.Offset), len(data)), "at"
	if int(se.Offset) >= len(data) && strings.HasPrefix(se.Error(), "unexpected end") {
		end, where = len(bytes.TrimRight(data, " \t\r\n")), "after"
	}
	line, col := position(data, end-1)
	return fmt.Sprintf("%s %s byte %d (line %d, column %d)", se.Error(), where, end, line, col)
}

// position is the line and column (in characters), from 1, of data[i].
func position(data []byte, i int) (line, col int) {
	before := data[:max(i, 0)]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = 1 + utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:])
	return line, col
}

// resetOutput is reset's JSON output.
type resetOutput struct {
	Task    string `json:"task"`
	Key     string `json:"key"`
	KeyText string `json:"keyText"`
}

func (r *runner) resetCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "reset <task>",
		Short: "Make the next trigger with a key start a new run",
		Long: `Reset a key: the next trigger of the task with that key starts a new run. The
old run's history stays readable. A run that is still running is left alone
unless --terminate is given.`,
		Example: example(r.m.DisplayName,
			`reset hello --key order-42`,
			`reset my-task --key customer-7 --key invoice-9 --terminate`),
		Args:              r.taskArgs,
		ValidArgsFunction: r.completeTask,
	}
	fs := c.Flags()
	fs.SortFlags = false
	keys := fs.StringArray("key", nil, "idempotency key `PART`; can be passed multiple times")
	terminate := fs.Bool("terminate", false, "terminate the key's run when it is still running")
	r.addConnectFlags(c)
	c.RunE = r.keyRunE(keys, nil, func(c *cobra.Command, s *starter.Client, task string, key idempotency.TriggerKey) error {
		if err := s.ResetKey(c.Context(), task, key, starter.ResetOptions{Terminate: *terminate}); err != nil {
			return err
		}
		out := resetOutput{Task: task, Key: string(key.Key), KeyText: key.Text}
		return r.printValue(out, func(w io.Writer) {
			fmt.Fprintf(w, "reset    task %s key %s: the next trigger starts a new run\n", out.Task, out.KeyText)
		})
	})
	return c
}

// keyRunE is the RunE of a command on the run of one key (reset, describe,
// history): it requires the parts of --key, runs check (the command's other
// flags; nil when none), connects (see withClient) and calls fn with the
// task argument, the key and the client.
func (r *runner) keyRunE(keys *[]string, check func() error, fn func(c *cobra.Command, s *starter.Client, task string, key idempotency.TriggerKey) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		key, err := requireKey(*keys)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
		return r.withClient(c, func(s *starter.Client) error { return fn(c, s, args[0], key) })
	}
}

func requireKey(keys []string) (idempotency.TriggerKey, error) {
	if len(keys) == 0 {
		return idempotency.TriggerKey{}, usagef("--key is required")
	}
	k, err := keyParts(keys)
	if err != nil {
		return idempotency.TriggerKey{}, fmt.Errorf("--key: %w", err)
	}
	return k, nil
}

// describeOutput is describe's JSON output.
type describeOutput struct {
	Task       string     `json:"task"`
	WorkflowID string     `json:"workflowId"`
	RunID      string     `json:"runId"`      // the run that holds the workflow ID now
	FirstRunID string     `json:"firstRunId"` // the run's stable ID, as trigger prints it
	Key        string     `json:"key"`
	KeyText    string     `json:"keyText"`
	Scope      string     `json:"scope"`
	Status     string     `json:"status"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	// ExpiryBound is what sets ExpiresAt: "ttl" (the key's TTL) or
	// "retention" (the namespace's, after the run closed).
	ExpiryBound string `json:"expiryBound,omitempty"`
	Expired     bool   `json:"expired"`
	Reset       bool   `json:"reset"`
	// OnFailure is the run's failure policy as it records it: "release"
	// (a failed, timed-out or terminated run releases the key) or "keep"
	// (starter.RunInfo.OnFailure).
	OnFailure string          `json:"onFailure"`
	StartTime time.Time       `json:"startTime"`
	CloseTime *time.Time      `json:"closeTime,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	// Query lists every run of the key (replaced ones too) with built-in
	// search attributes only: temporal workflow list --query "…".
	Query string `json:"query"`
}

// statusName is "Running", "Completed", … for a workflow status.
func statusName(s enumspb.WorkflowExecutionStatus) string {
	name := strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_")
	name = strings.ToLower(name)
	return strings.ReplaceAll(name, "_", "-")
}

func (r *runner) describeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "describe <task>",
		Short: "Show the run that holds a key, or list a task's runs",
		Long: `Describe the run that holds a key: its status, key text, scope, expiry,
failure policy (keep, or release when the run's task releases its key),
workflow and run IDs, and its result when it completed.

Without --key, list the task's latest runs in the environment, newest first,
found with built-in search attributes only (no custom one to register):
WorkflowType = '<task>' AND WorkflowId STARTS_WITH '<env>/'.`,
		Example: example(r.m.DisplayName,
			`describe hello --key order-42`,
			`describe hello --key order-42 --output json`,
			`describe hello --limit 50 --env prod`),
		Args:              r.taskArgs,
		ValidArgsFunction: r.completeTask,
	}
	fs := c.Flags()
	fs.SortFlags = false
	keys := fs.StringArray("key", nil, "idempotency key `PART`; can be passed multiple times; without it, list the task's runs")
	limit := fs.Int("limit", starter.DefaultListLimit, "without --key: list at most `N` runs")
	r.addConnectFlags(c)
	describeKey := r.keyRunE(keys, nil, r.describeKey)
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(*keys) == 0 {
			return r.listRuns(c, args[0], *limit)
		}
		return describeKey(c, args)
	}
	return c
}

// describeKey prints the run of task that holds key.
func (r *runner) describeKey(c *cobra.Command, s *starter.Client, task string, key idempotency.TriggerKey) error {
	ctx := c.Context()
	info, err := s.Lookup(ctx, task, key, starter.LookupOptions{})
	if err != nil {
		return err
	}
	out := describeOutput{
		Task: task, WorkflowID: info.WorkflowID, RunID: info.CurrentRunID, FirstRunID: info.RunID,
		Key: string(info.Key), KeyText: info.KeyText, Scope: info.Scope, Status: statusName(info.Status),
		Expired: info.Expired, Reset: info.Reset, OnFailure: info.OnFailure.String(), StartTime: info.StartTime,
		Query: starter.KeyQuery(info.WorkflowID),
	}
	if info.Reset {
		out.Status = "reset"
	}
	if !info.ExpiresAt.IsZero() {
		out.ExpiresAt, out.ExpiryBound = &info.ExpiresAt, string(info.ExpiryBound)
	}
	if !info.CloseTime.IsZero() {
		out.CloseTime = &info.CloseTime
	}
	if info.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED && !info.Reset {
		var result json.RawMessage
		if err := info.Run().Get(ctx, &result); err != nil {
			return fmt.Errorf("result of %s: %w", info.WorkflowID, err)
		}
		out.Result = result
		if len(out.Result) == 0 {
			out.Result = json.RawMessage("null")
		}
	}
	return r.printValue(out, func(w io.Writer) { printDescribe(w, out) })
}

func printDescribe(w io.Writer, out describeOutput) {
	fmt.Fprintf(w, "Task       %s\n", out.Task)
	fmt.Fprintf(w, "Status     %s\n", out.Status)
	fmt.Fprintf(w, "Key text   %s\n", out.KeyText)
	fmt.Fprintf(w, "Key        %s\n", out.Key)
	fmt.Fprintf(w, "Scope      %s\n", out.Scope)
	if out.ExpiresAt != nil {
		state := ""
		if out.Expired {
			state = "; expired: the next trigger starts a new run"
		}
		fmt.Fprintf(w, "Expires    %s (%s%s)\n", out.ExpiresAt.Format(time.RFC3339), boundText(out.ExpiryBound), state)
	}
	fmt.Fprintf(w, "On failure %s\n", out.OnFailure)
	fmt.Fprintf(w, "Workflow   %s\n", out.WorkflowID)
	fmt.Fprintf(w, "Run        %s\n", out.FirstRunID)
	fmt.Fprintf(w, "Started    %s\n", out.StartTime.Format(time.RFC3339))
	if out.CloseTime != nil {
		fmt.Fprintf(w, "Closed     %s\n", out.CloseTime.Format(time.RFC3339))
	}
	if out.Result != nil {
		fmt.Fprintf(w, "Result     %s\n", out.Result)
	}
	fmt.Fprintf(w, "All runs   temporal workflow list --query \"%s\"\n", out.Query)
}

// boundText says what sets an expiry.
func boundText(bound string) string {
	switch starter.ExpiryBound(bound) {
	case starter.ExpiryTTL:
		return "ttl"
	case starter.ExpiryRetention:
		return "retention: the namespace deletes the closed run's history"
	}
	return bound
}

// listItem is one run in describe's list (without --key).
type listItem struct {
	WorkflowID string     `json:"workflowId"`
	RunID      string     `json:"runId"`                // this execution
	FirstRunID string     `json:"firstRunId,omitempty"` // the run's stable ID
	Key        string     `json:"key,omitempty"`
	KeyText    string     `json:"keyText,omitempty"`
	Scope      string     `json:"scope,omitempty"`
	Status     string     `json:"status"`
	StartTime  time.Time  `json:"startTime"`
	CloseTime  *time.Time `json:"closeTime,omitempty"`
}

// listRuns is describe without --key: the task's latest runs in the
// environment (starter.ListRuns, built-in search attributes only).
func (r *runner) listRuns(c *cobra.Command, task string, limit int) error {
	if limit < 1 {
		return usagef("--limit %d: want at least 1", limit)
	}
	return r.withClient(c, func(s *starter.Client) error {
		runs, err := s.ListRuns(c.Context(), task, starter.ListOptions{Limit: limit})
		if err != nil {
			return err
		}
		items := make([]listItem, len(runs))
		for i, run := range runs {
			items[i] = listItem{
				WorkflowID: run.WorkflowID, RunID: run.CurrentRunID, FirstRunID: run.RunID, Key: string(run.Key), KeyText: run.KeyText,
				Scope: run.Scope, Status: statusName(run.Status), StartTime: run.StartTime,
			}
			if run.Reset {
				items[i].Status = "reset"
			}
			if !run.CloseTime.IsZero() {
				items[i].CloseTime = &runs[i].CloseTime
			}
		}
		if r.output == "text" {
			query, err := s.RunsQuery(task)
			if err != nil {
				return err
			}
			fmt.Fprintf(r.stdout, "Query: %s\n", query)
			fmt.Fprintf(r.stdout, "%-20s  %-10s  %-24s  %s\n", "STARTED", "STATUS", "KEY TEXT", "WORKFLOW ID")
		}
		return printList(r, items, func(w io.Writer, it listItem) {
			fmt.Fprintf(w, "%-20s  %-10s  %-24s  %s\n", it.StartTime.Format(time.RFC3339), it.Status, it.KeyText, it.WorkflowID)
		})
	})
}

// keyOutput is key's JSON output.
type keyOutput struct {
	Key string `json:"key"`
}

func (r *runner) keyCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "key <part>...",
		Short: "Print the 64-hex idempotency key of some parts",
		Long: `Print the idempotency key that trigger derives from key parts: the
lowercase hex SHA-256 of the parts (and the scope's run ID and attempt) joined
with "-". It needs no server.`,
		Example: example(r.m.DisplayName,
			`key order-42`,
			`key customer-7 invoice-9 --output json`,
			`key order-42 --scope attempt --run-id YourFirstRunId --attempt 2`),
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("key: want at least one PART (see %s --help)", c.CommandPath())
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	fs := c.Flags()
	fs.SortFlags = false
	scopeArg := fs.String("scope", "", "key `SCOPE`: run, attempt or global (needs --run-id for run and attempt)")
	runID := fs.String("run-id", "", "the run's stable ID (first run ID) for run and attempt scopes")
	attempt := fs.Int("attempt", 1, "the workflow attempt for the attempt scope")
	_ = c.RegisterFlagCompletionFunc("scope", fixedCompletion("run", "attempt", "global"))
	c.RunE = func(c *cobra.Command, args []string) error {
		scope, err := idempotency.ParseScope(*scopeArg)
		if err != nil {
			return fmt.Errorf("--scope: %w", err)
		}
		if *attempt < 1 || *attempt > 1<<31-1 {
			return usagef("--attempt %d: want a whole number from 1", *attempt)
		}
		if (scope == idempotency.ScopeRun || scope == idempotency.ScopeAttempt) && *runID == "" {
			return usagef("--scope %s needs --run-id (outside a run every scope gives the global key)", scope)
		}
		if err := checkBlank(args); err != nil {
			return err
		}
		k, err := idempotency.Derive(idempotency.RunContext{RunID: *runID, Attempt: int32(*attempt)}, scope, args...)
		if err != nil {
			return err
		}
		return r.printValue(keyOutput{Key: string(k)}, func(w io.Writer) { fmt.Fprintln(w, k) })
	}
	return c
}

// onFailureFlag adds --on-failure to c: the trigger's failure policy, which
// overrides the task's (once.ParseFailurePolicy; "" the task's).
func onFailureFlag(c *cobra.Command) *string {
	p := c.Flags().String("on-failure", "", "`POLICY` for a key whose run failed, timed out or was terminated: keep (the run answers, cached) or release (one new run; trigger.dev v4); a completed or canceled run keeps its key (default: the task's, as its runs record it, else keep)")
	_ = c.RegisterFlagCompletionFunc("on-failure", fixedCompletion(once.FailureKeep.String(), once.FailureRelease.String()))
	return p
}
