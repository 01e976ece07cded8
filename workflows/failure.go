package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// ReleaseRunActivity is the activity type name of
// RuntimeActivities.ReleaseRun, as workflows schedule it and histories
// record it.
const ReleaseRunActivity = "ReleaseRun"

// TriggerFunc triggers task with key and payload under the failure policy
// onFailure, as starter.Client.Trigger does, and returns the run that
// answers for the key: its workflow ID, its stable run ID, and whether it
// was there before (cached) or this call started it. worker.New makes one
// of its starter.
type TriggerFunc func(ctx context.Context, task string, key idempotency.Key, payload converter.RawValue, onFailure once.FailurePolicy) (workflowID, runID string, cached bool, err error)

// ReleaseInput is the input of ReleaseRun: the child trigger whose workflow
// ID was taken.
type ReleaseInput struct {
	Task       string          `json:"task"`
	WorkflowID string          `json:"workflowId"`
	Key        idempotency.Key `json:"key"`
}

// ReleaseResult is the result of ReleaseRun: the run that answers for the
// child's key.
type ReleaseResult struct {
	// RunID is the run's stable ID.
	RunID string `json:"runId"`
	// Started is true when this call's start made the run (it replaced a
	// failed one); false when the run was there (the run that holds the
	// workflow ID did not fail, or another caller replaced it first).
	Started bool `json:"started"`
}

// ReleaseRun is the trigger of a child whose failure policy releases a
// failed run's key (ChildOptions.OnFailure, TaskOptions.OnFailure), once the
// child's start found its workflow ID taken: it triggers the task with the
// child's key and payload through Trigger, under once.FailureRelease — the
// starter's path, so that a run that failed, timed out or was terminated is
// replaced by exactly one new run, however many parents and services find
// it at once, and any other run (running, completed, canceled) is returned
// as it is. The new run is an ordinary run of the task, not a child of the
// parent; its key has the starter's default TTL.
//
// A retried attempt (a worker that died after the start) finds the new run
// and returns it as not Started; should that run have failed already, it is
// replaced again.
//
// Errors (temporal.ApplicationError types): ErrTypeMisconfigured, also when
// the starter's workflow ID for the key is not the child's (the worker
// serves another environment than the parent's); the starter's input errors,
// non-retryable; otherwise its error (retryable).
func (a *RuntimeActivities) ReleaseRun(ctx context.Context, in ReleaseInput, payload converter.RawValue) (ReleaseResult, error) {
	if a == nil || a.Trigger == nil {
		return ReleaseResult{}, temporal.NewNonRetryableApplicationError("workflows: ReleaseRun needs RuntimeActivities.Trigger", ErrTypeMisconfigured, nil)
	}
	workflowID, runID, cached, err := a.Trigger(ctx, in.Task, in.Key, payload, once.FailureRelease)
	switch {
	case errors.Is(err, once.ErrInvalidInput):
		return ReleaseResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMisconfigured, err)
	case err != nil:
		return ReleaseResult{}, err
	case workflowID != in.WorkflowID:
		return ReleaseResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("workflows: ReleaseRun: the worker's starter triggers %s, not the child %s: it serves another environment", workflowID, in.WorkflowID),
			ErrTypeMisconfigured, nil)
	}
	return ReleaseResult{RunID: runID, Started: !cached}, nil
}

// releases reports whether a child trigger with the override onFailure
// replaces a failed run of t: its override, else t's own policy, is
// FailureRelease.
func (t *Task[P, R]) releases(onFailure once.FailurePolicy) bool {
	if onFailure == once.FailureDefault {
		onFailure = t.opts.OnFailure
	}
	return onFailure == once.FailureRelease
}

// releaseCall is a child trigger whose failure policy releases a failed
// run's key: what ReleaseRun needs, and the run it answered with.
type releaseCall struct {
	key     idempotency.Key
	payload any
	runID   string // the run that answers for the key, once known
}

// withStarterActivity is ctx with the options of the runtime's activities
// that call the starter (SignalDebouncer, ReleaseRun): a minute a try,
// retried unless the worker is misconfigured.
func withStarterActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumInterval:        30 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeMisconfigured},
		},
	})
}

// releaseFailed runs ReleaseRun for a child whose workflow ID was taken and
// waits for its answer: the run the child attaches to.
func (c *child) releaseFailed(ctx workflow.Context) error {
	var acts *RuntimeActivities
	actx := withStarterActivity(ctx)
	var res ReleaseResult
	err := workflow.ExecuteActivity(actx, acts.ReleaseRun, ReleaseInput{Task: c.task, WorkflowID: c.workflowID, Key: c.release.key}, c.release.payload).Get(ctx, &res)
	if err != nil {
		if ctx.Err() != nil {
			return err // not decided: a later call may still wait
		}
		c.startErr = err
		c.count(ctx, once.OutcomeFailed)
		return err
	}
	c.started, c.attached, c.release.runID = true, true, res.RunID
	if res.Started {
		c.runID = res.RunID
		c.count(ctx, once.OutcomeRestarted)
		return nil
	}
	c.count(ctx, once.OutcomeCached)
	return nil
}
