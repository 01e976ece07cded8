package starter

import (
	"context"

	"github.com/once-run/once"
)

// TypedRun is a Run whose result has type R.
type TypedRun[R any] struct {
	*Run
	// Result is the run's result, as TriggerTaskAndWait returns it; zero
	// from TriggerTask and BatchTriggerTask, which do not wait (call Get).
	Result R
}

// Get waits for the run to close and returns its result. A failed run
// returns its error (a *temporal.WorkflowExecutionError).
func (r *TypedRun[R]) Get(ctx context.Context) (R, error) {
	var out R
	err := r.Run.Get(ctx, &out)
	return out, err
}

// TriggerTask is Client.Trigger with types: it triggers task with payload
// and returns a run whose Get yields the task's result type. The task's
// retry policy and timeouts are the worker's, as for any trigger.
//
//	run, err := starter.TriggerTask(ctx, s, examples.Hello.Ref(), examples.HelloPayload{Name: "Ada"}, starter.TriggerOptions{Key: idempotency.Parts{"order-42"}})
//	greeting, err := run.Get(ctx) // string
//
// Errors: as Client.Trigger.
func TriggerTask[P, R any](ctx context.Context, c *Client, task once.TaskRef[P, R], payload P, opts TriggerOptions) (*TypedRun[R], error) {
	run, err := c.Trigger(ctx, task.ID(), payload, opts)
	if run == nil {
		return nil, err
	}
	return &TypedRun[R]{Run: run}, err
}

// TriggerTaskAndWait is TriggerTask, then waits for the run's result, in
// the returned run's Result (as Client.TriggerAndWait returns the run and
// decodes the result into resultPtr).
//
//	run, err := starter.TriggerTaskAndWait(ctx, s, examples.Hello.Ref(), examples.HelloPayload{Name: "Ada"}, opts)
//	greeting := run.Result // string
//
// Errors: as Client.TriggerAndWait; the run is returned with the error
// when there is one (a run that failed).
func TriggerTaskAndWait[P, R any](ctx context.Context, c *Client, task once.TaskRef[P, R], payload P, opts TriggerOptions) (*TypedRun[R], error) {
	var out R
	run, err := c.TriggerAndWait(ctx, task.ID(), payload, &out, opts)
	if run == nil {
		return nil, err
	}
	return &TypedRun[R]{Run: run, Result: out}, err
}

// TaskBatchItem is one trigger of BatchTriggerTask.
type TaskBatchItem[P any] struct {
	// Payload of the run.
	Payload P
	// Options of this item's trigger, as in BatchItem.
	Options TriggerOptions
}

// TaskBatchResult is the outcome of one item of BatchTriggerTask.
type TaskBatchResult[R any] struct {
	// Run is the item's run; nil when the item failed before a run was
	// found or started.
	Run *TypedRun[R]
	// Err is the item's error; the other items are not affected by it.
	Err error
}

// BatchTriggerTask is Client.BatchTrigger with types.
//
// Errors: as Client.BatchTrigger.
func BatchTriggerTask[P, R any](ctx context.Context, c *Client, task once.TaskRef[P, R], items []TaskBatchItem[P], opts BatchOptions) ([]TaskBatchResult[R], error) {
	untyped := make([]BatchItem, len(items))
	for i, it := range items {
		untyped[i] = BatchItem{Payload: it.Payload, Options: it.Options}
	}
	results, err := c.BatchTrigger(ctx, task.ID(), untyped, opts)
	if err != nil {
		return nil, err
	}
	out := make([]TaskBatchResult[R], len(results))
	for i, r := range results {
		out[i].Err = r.Err
		if r.Run != nil {
			out[i].Run = &TypedRun[R]{Run: r.Run}
		}
	}
	return out, nil
}
