// Package activities holds Once's activities and the helpers that trigger
// tasks from inside an activity.
//
// Activities are methods on Activities, which holds their dependencies;
// workflow code calls them through a nil pointer:
//
//	var a *activities.Activities
//	workflow.ExecuteActivity(ctx, a.AttachRun, activities.AttachInput{…})
//
// The worker package registers them. Inside an activity of a Once task the
// context carries the run context of the task (idempotency.RunContextFrom),
// so keys made with idempotency.Create are run-scoped and a task triggered
// with Trigger or TriggerAndWait gets a key that an activity retry finds
// again: a retried activity never starts a second run.
//
// Do not call anything of this package from workflow code except through
// workflow.ExecuteActivity: it does I/O.
package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// ApplicationError types of this package's activities.
const (
	// ErrTypeRunFailed: the run AttachRun waited for closed without a
	// result (failed, timed out, canceled, terminated); the error's cause is
	// the run's own failure. Non-retryable.
	ErrTypeRunFailed = "OnceRunFailed"

	// ErrTypeRunNotFound: AttachRun found no run for the workflow ID within
	// NotFoundGrace. Non-retryable.
	ErrTypeRunNotFound = "OnceRunNotFound"

	// ErrTypeMisconfigured: an activity lacks a dependency (Activities.Client
	// or Activities.Starter). Non-retryable.
	ErrTypeMisconfigured = "OnceMisconfigured"

	// ErrTypeExampleFailure: an example activity failing on purpose.
	// Retryable.
	ErrTypeExampleFailure = "OnceExampleFailure"
)

// Errors of Trigger and TriggerAndWait, tested with errors.Is.
var (
	// ErrNoRunContext: the context belongs to no task run (not an activity
	// of a Once task, or the worker has no run-context propagation). Call
	// from an activity of a task registered with the worker package.
	ErrNoRunContext = errors.New("activities: the context carries no task run: trigger from an activity of a Once task")

	// ErrNoStarter: no starter.Client was given.
	ErrNoStarter = errors.New("activities: no starter client: set Activities.Starter (worker.New does)")

	// ErrEnvironmentMismatch: the starter triggers in another environment
	// than the run's. Use a starter of the run's environment.
	ErrEnvironmentMismatch = errors.New("activities: the starter's environment is not the run's")
)

// DefaultNotFoundGrace is how long AttachRun waits for a workflow ID that
// does not exist yet when Activities.NotFoundGrace is zero.
const DefaultNotFoundGrace = 30 * time.Second

// Activities holds the dependencies of Once's activities. Register a
// non-nil *Activities with the worker; call its methods from workflow code
// through a nil *Activities.
type Activities struct {
	// Client reads the runs AttachRun waits for. Required for AttachRun.
	Client client.Client

	// Starter triggers tasks from activities. Required for
	// TriggerChildTask.
	Starter *starter.Client

	// NotFoundGrace bounds how long AttachRun waits for a workflow ID to
	// exist: a start that the server refused because the ID exists may be
	// seen by AttachRun a moment before the run is readable.
	// Optional: defaults to DefaultNotFoundGrace.
	NotFoundGrace time.Duration
}

// AttachInput is the input of AttachRun.
type AttachInput struct {
	// WorkflowID of the run to wait for; its latest run (following retries
	// and continue-as-new) is awaited.
	WorkflowID string `json:"workflowId"`
}

// AttachRun waits for the run that holds in.WorkflowID to close and returns
// its result as it is (a raw payload, decoded by the workflow into the
// task's result type). It heartbeats while it waits, at a third of its
// heartbeat timeout, so a retry on another worker takes over from a dead
// one. The workflows package schedules it when a child's workflow ID is
// already taken.
//
// Errors (temporal.ApplicationError types): ErrTypeRunFailed with the run's
// failure as cause; ErrTypeRunNotFound; ErrTypeMisconfigured; otherwise the
// client's error (retryable: the server may be unreachable for a while).
func (a *Activities) AttachRun(ctx context.Context, in AttachInput) (converter.RawValue, error) {
	if a == nil || a.Client == nil {
		return converter.RawValue{}, temporal.NewNonRetryableApplicationError("activities: AttachRun needs Activities.Client", ErrTypeMisconfigured, nil)
	}
	grace := a.NotFoundGrace
	if grace <= 0 {
		grace = DefaultNotFoundGrace
	}
	every := heartbeatInterval(ctx)
	var notFoundSince time.Time
	for {
		raw, err := a.wait(ctx, in.WorkflowID, every)
		if err == nil {
			return raw, nil
		}
		if ctx.Err() != nil {
			return converter.RawValue{}, ctx.Err()
		}
		var closed *temporal.WorkflowExecutionError
		if errors.As(err, &closed) {
			cause := errors.Unwrap(closed)
			return converter.RawValue{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("run %s closed without a result: %v", in.WorkflowID, cause), ErrTypeRunFailed, cause)
		}
		var notFound *serviceerror.NotFound
		if !errors.As(err, &notFound) {
			return converter.RawValue{}, fmt.Errorf("wait for run %s: %w", in.WorkflowID, err)
		}
		if notFoundSince.IsZero() {
			notFoundSince = time.Now()
		}
		if time.Since(notFoundSince) > grace {
			return converter.RawValue{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("no run holds workflow ID %s (waited %s)", in.WorkflowID, grace), ErrTypeRunNotFound, err)
		}
		activity.RecordHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return converter.RawValue{}, ctx.Err()
		case <-time.After(min(every, 500*time.Millisecond)):
		}
	}
}

// wait long-polls the run's result, heartbeating every interval.
func (a *Activities) wait(ctx context.Context, workflowID string, every time.Duration) (converter.RawValue, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		raw converter.RawValue
		err error
	}
	done := make(chan result, 1)
	go func() {
		var raw converter.RawValue
		err := a.Client.GetWorkflow(ctx, workflowID, "").Get(ctx, &raw)
		done <- result{raw, err}
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			if r.err == nil && r.raw.Payload() == nil {
				// The run completed without a result payload: hand on null.
				p, err := converter.GetDefaultDataConverter().ToPayload(nil)
				if err != nil {
					return converter.RawValue{}, err
				}
				r.raw = converter.NewRawValue(p)
			}
			return r.raw, r.err
		case <-tick.C:
			activity.RecordHeartbeat(ctx)
		}
	}
}

// heartbeatInterval is a third of the activity's heartbeat timeout.
func heartbeatInterval(ctx context.Context) time.Duration {
	d := 10 * time.Second
	if activity.IsActivity(ctx) {
		if hb := activity.GetInfo(ctx).HeartbeatTimeout; hb > 0 {
			d = hb / 3
		}
	}
	return max(d, 100*time.Millisecond)
}

// Trigger triggers task through s on behalf of the task run that ctx
// belongs to (ctx is an activity's context). The key defaults to
// run scope, and without a key the starter derives one from the activity ID
// and the task, so a retry of the activity finds the run its earlier
// attempt started (Run.Cached) instead of starting another.
//
// Errors: ErrNoStarter, ErrNoRunContext, ErrEnvironmentMismatch, and those
// of starter.Client.Trigger.
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
	rc, ok := idempotency.RunContextFrom(ctx)
	if !ok {
		return ErrNoRunContext
	}
	if rc.Environment != "" && rc.Environment != s.Environment() {
		return fmt.Errorf("run in %q, starter in %q: %w", rc.Environment, s.Environment(), ErrEnvironmentMismatch)
	}
	return nil
}
