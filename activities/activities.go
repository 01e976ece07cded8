// Package activities holds the helpers that trigger tasks from inside an
// activity of a task, through a starter.Client.
//
// Inside an activity of a Once task (registered with the worker package) the
// context carries the run context of the task (RunContext), so keys made
// with CreateKey are run-scoped and a retried activity never starts a second
// run:
//
//   - with a key, the retry finds the run of that key;
//   - without a key, each call is its own run, keyed by the run, the
//     activity, the task and the ordinal of the call among the attempt's
//     unkeyed triggers of that task: N calls start N runs, each with its own
//     payload, and a retried attempt that makes the same calls in the same
//     order finds the same N runs (Cached);
//   - without a key, scope global is refused
//     (idempotency.ErrGlobalScopeNeedsKey): unrelated runs would share one.
//
// Calls from several goroutines of one attempt each get their own run too,
// but their ordinals follow scheduling, so a retry may pair a payload with
// another call's run: give such calls keys (CreateKey(ctx, item.ID))
// or trigger them with starter.Client.BatchTrigger, which numbers its items in
// order. See package starter for the rest of the rules.
//
// Do not call anything of this package from workflow code except through
// workflow.ExecuteActivity: it does I/O.
package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/once-run/once/starter"
)

// Errors of Trigger and TriggerAndWait, tested with errors.Is.
var (
	// ErrNoRunContext: the context belongs to no task run (not an activity
	// of a Once task, or the worker has no run-context propagation). Call
	// from an activity of a task registered with the worker package.
	ErrNoRunContext = errors.New("activities: the context carries no task run: trigger from an activity of a Once task")

	// ErrNoStarter: no starter.Client was given.
	ErrNoStarter = errors.New("activities: no starter client: pass the worker's (worker.Worker.Starter) or one of the run's environment")

	// ErrEnvironmentMismatch: the starter triggers in another environment
	// than the run's. Use a starter of the run's environment.
	ErrEnvironmentMismatch = errors.New("activities: the starter's environment is not the run's")
)

// Trigger triggers task through s on behalf of the task run that ctx
// belongs to (ctx is an activity's context). The key defaults to run scope;
// without a key, the call is keyed by the run, the activity ID, the task and
// the ordinal of the call in this attempt, so a retry of the activity finds
// the run its earlier attempt started for the same call (Run.Cached) instead
// of starting another, and every call has its own run.
//
// Errors: ErrNoStarter, ErrNoRunContext, ErrEnvironmentMismatch, and those
// of starter.Client.Trigger (idempotency.ErrGlobalScopeNeedsKey for scope
// global without a key).
func Trigger(ctx context.Context, s *starter.Client, task string, payload any, opts starter.TriggerOptions) (*starter.Run, error) {
	if err := checkRun(ctx, s); err != nil {
		return nil, fmt.Errorf("trigger %s: %w", task, err)
	}
	return s.Trigger(ctx, task, payload, opts)
}

// TriggerAndWait is Trigger, then waits for the run's result, decoded into
// resultPtr (nil to discard it).
//
// Errors: those of Trigger and the run's failure.
func TriggerAndWait(ctx context.Context, s *starter.Client, task string, payload any, resultPtr any, opts starter.TriggerOptions) (*starter.Run, error) {
	if err := checkRun(ctx, s); err != nil {
		return nil, fmt.Errorf("trigger %s: %w", task, err)
	}
	return s.TriggerAndWait(ctx, task, payload, resultPtr, opts)
}

func checkRun(ctx context.Context, s *starter.Client) error {
	if s == nil {
		return ErrNoStarter
	}
	rc, ok := RunContext(ctx)
	if !ok {
		return ErrNoRunContext
	}
	if rc.Environment != "" && rc.Environment != s.Environment() {
		return fmt.Errorf("run in %q, starter in %q: %w", rc.Environment, s.Environment(), ErrEnvironmentMismatch)
	}
	return nil
}
