package starterapp

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// triggerOutput is trigger's --json output.
type triggerOutput struct {
	WorkflowID string          `json:"workflowId"`
	RunID      string          `json:"runId"`
	Cached     bool            `json:"cached"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
}

func (r *runner) trigger(ctx context.Context, args []string) error {
	fs := r.newFlagSet("trigger", "trigger <task> [flags]")
	common := r.addCommon(fs)
	var keys stringsFlag
	payloadArg := fs.String("payload", "", "payload: JSON text, or @file to read it from a file (@- for stdin)")
	fs.Var(&keys, "key", "idempotency key part (repeatable; parts are joined with \"-\" and hashed)")
	scopeArg := fs.String("scope", "", "key scope: run, attempt or global (outside a task all three give the global key)")
	ttlArg := fs.String("ttl", "", `key TTL, e.g. "30d", "12h", "90m" or "1h30m" (default 30d)`)
	retryFailed := fs.Bool("retry-failed", false, "start a new run when the key's run failed, timed out, was canceled or terminated")
	strict := fs.Bool("strict", false, "fail when the key's run was triggered with a different payload")
	wait := fs.Bool("wait", false, "wait for the run and print its result")
	asJSON := fs.Bool("json", false, `print one JSON object {"workflowId", "runId", "cached"[, "result"]}`)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	task, err := taskArg("trigger", pos)
	if err != nil {
		return err
	}
	opts := starter.TriggerOptions{RetryFailed: *retryFailed, Strict: *strict}
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
	payload, err := r.readPayload(*payloadArg)
	if err != nil {
		return err
	}
	if err := idempotency.ValidateEnvironment(common.env); err != nil {
		return fmt.Errorf("--env %q: %w", common.env, err)
	}

	s, closeClient, err := r.connect(ctx, common)
	if err != nil {
		return err
	}
	defer closeClient()
	var result json.RawMessage
	var run *starter.Run
	if *wait {
		run, err = s.TriggerAndWait(ctx, task, payload, &result, opts)
	} else {
		run, err = s.Trigger(ctx, task, payload, opts)
	}
	if run == nil || run.RunID == "" {
		return err // nothing to report but the error
	}
	out := triggerOutput{WorkflowID: run.WorkflowID, RunID: run.RunID, Cached: run.Cached}
	if *wait && err == nil {
		out.Result = result
		if len(out.Result) == 0 {
			out.Result = json.RawMessage("null")
		}
	}
	if err != nil {
		out.Error = oneLine(err.Error())
	}
	if *asJSON {
		if encErr := json.NewEncoder(r.stdout).Encode(out); encErr != nil {
			return encErr
		}
	} else {
		what := "started"
		if out.Cached {
			what = "cached "
		}
		fmt.Fprintf(r.stdout, "%s  workflow %s  run %s\n", what, out.WorkflowID, out.RunID)
		if out.Result != nil {
			fmt.Fprintf(r.stdout, "result   %s\n", out.Result)
		}
	}
	return err
}

// readPayload reads --payload: JSON text or @file; nil when empty.
func (r *runner) readPayload(arg string) (any, error) {
	if arg == "" {
		return nil, nil
	}
	data := []byte(arg)
	if name, ok := strings.CutPrefix(arg, "@"); ok {
		var err error
		if name == "-" {
			data, err = io.ReadAll(r.stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, usagef("--payload: read %s: %v", name, err)
		}
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("--payload is not valid JSON: %w", idempotency.ErrPayloadNotSerializable)
	}
	return json.RawMessage(data), nil
}

func (r *runner) reset(ctx context.Context, args []string) error {
	fs := r.newFlagSet("reset", "reset <task> --key PART... [--terminate]")
	common := r.addCommon(fs)
	var keys stringsFlag
	fs.Var(&keys, "key", "idempotency key part (repeatable)")
	terminate := fs.Bool("terminate", false, "terminate the key's run when it is still running")
	s, task, key, closeClient, err := r.keyedCommand(ctx, fs, common, &keys, args)
	if err != nil {
		return err
	}
	defer closeClient()
	if err := s.ResetKey(ctx, task, key, starter.ResetOptions{Terminate: *terminate}); err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "reset    task %s key %s: the next trigger starts a new run\n", task, idempotency.Text(key))
	return nil
}

// keyedCommand parses the arguments of a command on one task and key (reset,
// describe), checks them, then connects. Call closeClient when done.
func (r *runner) keyedCommand(ctx context.Context, fs *flag.FlagSet, common *commonFlags, keys *stringsFlag, args []string) (
	s *starter.Client, task string, key idempotency.Parts, closeClient func(), err error,
) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, "", nil, nil, err
	}
	if task, err = taskArg(fs.Name(), pos); err != nil {
		return nil, "", nil, nil, err
	}
	if key, err = requireKey(*keys); err != nil {
		return nil, "", nil, nil, err
	}
	s, closeClient, err = r.connect(ctx, common)
	return s, task, key, closeClient, err
}

func requireKey(keys []string) (idempotency.Parts, error) {
	if len(keys) == 0 {
		return nil, usagef("--key is required")
	}
	k, err := keyParts(keys)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	return k, nil
}

// describeOutput is describe's --json output.
type describeOutput struct {
	Task       string          `json:"task"`
	WorkflowID string          `json:"workflowId"`
	RunID      string          `json:"runId"`
	FirstRunID string          `json:"firstRunId"`
	Key        string          `json:"key"`
	KeyText    string          `json:"keyText"`
	Scope      string          `json:"scope"`
	Status     string          `json:"status"`
	ExpiresAt  *time.Time      `json:"expiresAt,omitempty"`
	Expired    bool            `json:"expired"`
	Reset      bool            `json:"reset"`
	StartTime  time.Time       `json:"startTime"`
	CloseTime  *time.Time      `json:"closeTime,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
}

// statusName is "Running", "Completed", … for a workflow status.
func statusName(s enumspb.WorkflowExecutionStatus) string {
	name := strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_")
	name = strings.ToLower(name)
	return strings.ReplaceAll(name, "_", "-")
}

func (r *runner) describe(ctx context.Context, args []string) error {
	fs := r.newFlagSet("describe", "describe <task> --key PART... [--json]")
	common := r.addCommon(fs)
	var keys stringsFlag
	fs.Var(&keys, "key", "idempotency key part (repeatable)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	s, task, key, closeClient, err := r.keyedCommand(ctx, fs, common, &keys, args)
	if err != nil {
		return err
	}
	defer closeClient()
	info, err := s.Lookup(ctx, task, key, starter.LookupOptions{})
	if err != nil {
		return err
	}
	out := describeOutput{
		Task: task, WorkflowID: info.WorkflowID, RunID: info.RunID, FirstRunID: info.FirstRunID,
		Key: string(info.Key), KeyText: info.KeyText, Scope: info.Scope, Status: statusName(info.Status),
		Expired: info.Expired, Reset: info.Reset, StartTime: info.StartTime,
	}
	if info.Reset {
		out.Status = "reset"
	}
	if !info.ExpiresAt.IsZero() {
		out.ExpiresAt = &info.ExpiresAt
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
	if *asJSON {
		return json.NewEncoder(r.stdout).Encode(out)
	}
	w := r.stdout
	fmt.Fprintf(w, "Task       %s\n", out.Task)
	fmt.Fprintf(w, "Status     %s\n", out.Status)
	fmt.Fprintf(w, "Key text   %s\n", out.KeyText)
	fmt.Fprintf(w, "Key        %s\n", out.Key)
	fmt.Fprintf(w, "Scope      %s\n", out.Scope)
	if out.ExpiresAt != nil {
		state := ""
		if out.Expired {
			state = " (expired: the next trigger starts a new run)"
		}
		fmt.Fprintf(w, "Expires    %s%s\n", out.ExpiresAt.Format(time.RFC3339), state)
	}
	fmt.Fprintf(w, "Workflow   %s\n", out.WorkflowID)
	fmt.Fprintf(w, "Run        %s\n", out.FirstRunID)
	fmt.Fprintf(w, "Started    %s\n", out.StartTime.Format(time.RFC3339))
	if out.CloseTime != nil {
		fmt.Fprintf(w, "Closed     %s\n", out.CloseTime.Format(time.RFC3339))
	}
	if out.Result != nil {
		fmt.Fprintf(w, "Result     %s\n", out.Result)
	}
	return nil
}

func (r *runner) key(args []string) error {
	fs := r.newFlagSet("key", "key PART... [--scope run|attempt|global --run-id R --attempt N]")
	scopeArg := fs.String("scope", "", "key scope: run, attempt or global (needs --run-id for run and attempt)")
	runID := fs.String("run-id", "", "the run's stable ID (first run ID) for run and attempt scopes")
	attempt := fs.Int("attempt", 1, "the workflow attempt for the attempt scope")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("key: want at least one PART (see starter key --help)")
	}
	scope, err := idempotency.ParseScope(*scopeArg)
	if err != nil {
		return fmt.Errorf("--scope: %w", err)
	}
	if *attempt < 1 || *attempt > 1<<31-1 {
		return usagef("--attempt %s: want a whole number from 1", strconv.Itoa(*attempt))
	}
	if (scope == idempotency.ScopeRun || scope == idempotency.ScopeAttempt) && *runID == "" {
		return usagef("--scope %s needs --run-id (outside a run every scope gives the global key)", scope)
	}
	k, err := idempotency.Derive(idempotency.RunContext{RunID: *runID, Attempt: int32(*attempt)}, scope, pos...)
	if err != nil {
		return err
	}
	fmt.Fprintln(r.stdout, k)
	return nil
}
