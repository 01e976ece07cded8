package workflows

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
)

// ApplicationError types of the task runtime's activity (AttachRun).
const (
	// ErrTypeRunFailed: the run AttachRun waited for closed without a
	// result (failed, timed out, canceled, terminated); the error's cause is
	// the run's own failure. Non-retryable.
	ErrTypeRunFailed = "OnceRunFailed"

	// ErrTypeRunNotFound: AttachRun found no run for the workflow ID within
	// NotFoundGrace. Non-retryable.
	ErrTypeRunNotFound = "OnceRunNotFound"

	// ErrTypeMisconfigured: the activity lacks a dependency
	// (RuntimeActivities.Client). Non-retryable.
	ErrTypeMisconfigured = "OnceMisconfigured"
)

// AttachRunActivity is the activity type name of RuntimeActivities.AttachRun,
// as workflows schedule it and histories record it.
const AttachRunActivity = "AttachRun"

// DefaultNotFoundGrace is how long AttachRun waits for a workflow ID that
// does not exist yet when Activities.NotFoundGrace is zero.
const DefaultNotFoundGrace = 30 * time.Second

// RuntimeActivities is the task runtime's activity: AttachRun, which waits
// for a child run that a parent attached to. The worker package registers a
// non-nil *RuntimeActivities; so must a test environment that runs tasks
// whose children can attach.
type RuntimeActivities struct {
	// Client reads the runs AttachRun waits for. Required.
	Client client.Client

	// NotFoundGrace bounds how long AttachRun waits for a workflow ID to
	// exist: a start that the server refused because the ID exists may be
	// seen by AttachRun a moment before the run is readable.
	// Optional: defaults to DefaultNotFoundGrace.
	NotFoundGrace time.Duration

	// Trigger triggers a task with a key as the starter does: ReleaseRun
	// replaces a child's failed run through it. worker.New sets it to its
	// starter's Trigger. Optional: without it, a child trigger whose failure
	// policy releases a failed run fails (ErrTypeMisconfigured) when it
	// finds one.
	Trigger TriggerFunc
}

// AttachInput is the input of AttachRun.
type AttachInput struct {
	// WorkflowID of the run to wait for; its latest run (following retries
	// and continue-as-new) is awaited.
	WorkflowID string `json:"workflowId"`
	// RunID, when set, is the run to wait for instead of the latest (a
	// debouncer's run, which a later burst's run would follow). Optional.
	RunID string `json:"runId,omitempty"`
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
func (a *RuntimeActivities) AttachRun(ctx context.Context, in AttachInput) (converter.RawValue, error) {
	if a == nil || a.Client == nil {
		return converter.RawValue{}, temporal.NewNonRetryableApplicationError("workflows: AttachRun needs RuntimeActivities.Client", ErrTypeMisconfigured, nil)
	}
	grace := a.NotFoundGrace
	if grace <= 0 {
		grace = DefaultNotFoundGrace
	}
	every := heartbeatInterval(ctx)
	var notFoundSince time.Time
	for {
		raw, err := a.wait(ctx, in.WorkflowID, in.RunID, every)
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
func (a *RuntimeActivities) wait(ctx context.Context, workflowID, runID string, every time.Duration) (converter.RawValue, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		raw converter.RawValue
		err error
	}
	done := make(chan result, 1)
	go func() {
		var raw converter.RawValue
		err := a.Client.GetWorkflow(ctx, workflowID, runID).Get(ctx, &raw)
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
