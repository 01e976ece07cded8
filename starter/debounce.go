package starter

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once"
)

// Debounce is once.Debounce, TriggerOptions.Debounce's type: a burst of
// triggers of a task with one debounce key makes one run.
type Debounce = once.Debounce

// debounced is what a debounced trigger's Run needs to wait for its run:
// the debouncer run that took the trigger.
type debounced struct {
	workflowID, runID string
}

// debounce triggers task as one trigger of a burst (TriggerOptions.Debounce):
// one signal-with-start of the burst's debouncer, whose workflow ID is
// derived from the environment, the task and the debounce key, on the
// environment's task queue. The SDK client's SignalWithStartWorkflow makes
// it, so that the client's namespace, converter and codec, propagators and
// interceptors apply, as to a start. The Run names the run the burst
// starts (see TriggerOptions.Debounce).
func (c *Client) debounce(ctx context.Context, task string, payload any, opts TriggerOptions) (*Run, error) {
	ctx, cancel := c.rpcContext(ctx)
	defer cancel()
	ctx, done := c.observe(ctx, task)
	run, err := c.signalDebouncer(ctx, task, payload, opts)
	outcome := once.OutcomeDebounced
	if err != nil {
		outcome = once.OutcomeFailed
	}
	done(run, outcome, err)
	if err != nil {
		return nil, fmt.Errorf("trigger %s: %w", task, err)
	}
	return run, nil
}

func (c *Client) signalDebouncer(ctx context.Context, task string, payload any, opts TriggerOptions) (*Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // the caller gave up: signal nothing
	}
	if opts.Key != nil || opts.Scope != "" || opts.TTL != 0 || opts.RetryFailed || opts.OnFailure != FailureDefault ||
		opts.Strict || opts.StartDelay != 0 || len(opts.Memo) > 0 {
		return nil, fmt.Errorf("debounce: a debounced trigger takes no Key, Scope, TTL, RetryFailed, OnFailure, Strict, StartDelay or Memo (its run's key comes from the debouncer): %w", once.ErrInvalidDebounce)
	}
	t, err := c.task(task)
	if err != nil {
		return nil, err
	}
	d, err := t.Debouncer(*opts.Debounce)
	if err != nil {
		return nil, err
	}
	if err := c.checkInput(ctx, d.WorkflowID, payload); err != nil {
		return nil, err
	}
	wr, err := c.client.SignalWithStartWorkflow(ctx, d.WorkflowID, once.DebounceSignal, payload, client.StartWorkflowOptions{
		ID:                    d.WorkflowID,
		TaskQueue:             c.taskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		Memo:                  d.Memo().Fields(),
	}, once.DebounceWorkflow, d.Input())
	if err != nil {
		return nil, rpcError(ctx, err)
	}
	tr, err := d.Run(wr.GetRunID())
	if err != nil {
		return nil, err
	}
	return &Run{
		Task:       task,
		WorkflowID: tr.WorkflowID,
		Key:        tr.Key.Key,
		c:          c,
		debounced:  &debounced{workflowID: d.WorkflowID, runID: wr.GetRunID()},
	}, nil
}

// getDebounced waits for the debouncer run that took the trigger to close —
// by then the burst's run has started — then for the burst's run.
func (r *Run) getDebounced(ctx context.Context, valuePtr any) error {
	d := r.debounced
	if err := r.c.client.GetWorkflow(ctx, d.workflowID, d.runID).Get(ctx, nil); err != nil {
		return ctxError(ctx, fmt.Errorf("debouncer %s: %w", d.workflowID, err))
	}
	return ctxError(ctx, r.c.client.GetWorkflow(ctx, r.WorkflowID, "").Get(ctx, valuePtr))
}

// Debouncer names the debouncer run that took a debounced trigger (see
// TriggerOptions.Debounce): its workflow ID, "<env>/<task>/debounce-<key>",
// and run ID. ok is false for a run of a trigger that was not debounced.
// The burst's run (r.WorkflowID) exists once that debouncer run has
// started it: at once when leading, when the burst ends when trailing; it
// is the debouncer's child, and the debouncer's result names it.
func (r *Run) Debouncer() (workflowID, runID string, ok bool) {
	if r == nil || r.debounced == nil {
		return "", "", false
	}
	return r.debounced.workflowID, r.debounced.runID, true
}
