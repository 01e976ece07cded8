package starter

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/plan"
	"github.com/once-run/once/internal/runctx"
)

// BatchItem is one trigger of a batch.
type BatchItem struct {
	// Payload of the run.
	Payload any
	// Options of this item's trigger. Without Options.Key the item's key is
	// derived from the batch key and the item's index (when there is a batch
	// key).
	Options TriggerOptions
}

// BatchOptions configures a batch.
type BatchOptions struct {
	// BatchKey gives every item without a key of its own the key
	// hash(batch key, index), so repeating the whole batch returns the same
	// runs, all Cached. Optional: without it, such items are unkeyed.
	BatchKey idempotency.Input
	// Scope of a Parts batch key, as in TriggerOptions. Optional.
	Scope idempotency.Scope
	// Parallelism bounds the starts in flight. Optional: defaults to
	// Options.BatchParallelism.
	Parallelism int
}

// BatchResult is the outcome of one item, at the item's index.
type BatchResult struct {
	// Run is the item's run; nil when the item failed before a run was
	// found or started.
	Run *Run
	// Err is the item's error; the other items are not affected by it.
	Err error
}

// BatchTrigger triggers task once per item, with bounded parallelism, and
// returns one result per item in input order. Two items with the same key
// map to the same run (one of them Cached).
//
// Errors: only for the batch as a whole (an invalid task ID, a task not in
// Options.Tasks, an invalid batch key), in which case nothing is started;
// item errors are in the results.
func (c *Client) BatchTrigger(ctx context.Context, task string, items []BatchItem, opts BatchOptions) ([]BatchResult, error) {
	return c.batch(ctx, task, items, opts, false)
}

// BatchTriggerAndWait is BatchTrigger, then waits for every run to close. An
// item whose run failed has that failure in Err; get results with Run.Get.
//
// Errors: as BatchTrigger.
func (c *Client) BatchTriggerAndWait(ctx context.Context, task string, items []BatchItem, opts BatchOptions) ([]BatchResult, error) {
	return c.batch(ctx, task, items, opts, true)
}

func (c *Client) batch(ctx context.Context, task string, items []BatchItem, opts BatchOptions, wait bool) ([]BatchResult, error) {
	t, err := c.task(task)
	if err != nil {
		return nil, fmt.Errorf("batch trigger %s: %w", task, err)
	}
	var batchKey idempotency.Key
	if opts.BatchKey != nil {
		rc, _ := runctx.From(ctx)
		bk, err := t.Key(opts.BatchKey, opts.Scope, rc)
		if err != nil {
			return nil, fmt.Errorf("batch trigger %s: batch key: %w", task, err)
		}
		batchKey = bk.Key.Key
	}
	// Plan the items in item order before they run in parallel: from an
	// activity, unkeyed items take the ordinals of their calls in that
	// order, so that a retried attempt gives each item the same run.
	results := make([]BatchResult, len(items))
	plans := make([]*plan.Trigger, len(items))
	for i, item := range items {
		start := time.Now()
		tr, err := c.planItem(ctx, t, i, item.Options, batchKey)
		if err != nil {
			c.record(ctx, task, once.OutcomeFailed, time.Since(start))
			results[i].Err = fmt.Errorf("item %d: trigger %s: %w", i, task, err)
			continue
		}
		plans[i] = &tr
	}
	parallel := opts.Parallelism
	if parallel <= 0 {
		parallel = c.opts.BatchParallelism
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(parallel, len(items)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = c.batchItem(ctx, task, i, items[i], plans[i], wait)
			}
		}()
	}
	for i := range items {
		if plans[i] != nil {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	return results, nil
}

// planItem plans item i: with its own key, else hash(batch key, i) when
// there is a batch key, else as a trigger without a key.
func (c *Client) planItem(ctx context.Context, t plan.Task, i int, opts TriggerOptions, batchKey idempotency.Key) (plan.Trigger, error) {
	if opts.Key == nil && batchKey != "" {
		k, err := idempotency.BatchItemKey(batchKey, i)
		if err != nil {
			return plan.Trigger{}, err
		}
		opts.Key = k
	}
	return c.plan(ctx, t, opts.Key, opts.Scope)
}

func (c *Client) batchItem(ctx context.Context, task string, i int, item BatchItem, tr *plan.Trigger, wait bool) BatchResult {
	run, err := c.triggerOne(ctx, task, item.Payload, item.Options, tr)
	if err == nil && wait {
		if err = run.Get(ctx, nil); err != nil {
			err = fmt.Errorf("task %s run %s: %w", task, run.WorkflowID, err)
		}
	}
	if err != nil {
		err = fmt.Errorf("item %d: %w", i, err)
	}
	return BatchResult{Run: run, Err: err}
}
