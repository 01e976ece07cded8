package starter

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/once-run/once/idempotency"
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
// Errors: only for the batch as a whole (an invalid task ID or batch key),
// in which case nothing is started; item errors are in the results.
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
	if err := idempotency.ValidateTaskID(task); err != nil {
		return nil, fmt.Errorf("batch trigger %s: %w", task, err)
	}
	var batchKey idempotency.Key
	if opts.BatchKey != nil {
		rc, _ := idempotency.RunContextFrom(ctx)
		var err error
		if batchKey, err = idempotency.Resolve(opts.BatchKey, opts.Scope, rc); err != nil {
			return nil, fmt.Errorf("batch trigger %s: batch key: %w", task, err)
		}
	}
	parallel := opts.Parallelism
	if parallel <= 0 {
		parallel = c.opts.BatchParallelism
	}
	results := make([]BatchResult, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(parallel, len(items)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = c.batchItem(ctx, task, i, items[i], batchKey, wait)
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, nil
}

func (c *Client) batchItem(ctx context.Context, task string, i int, item BatchItem, batchKey idempotency.Key, wait bool) BatchResult {
	opts := item.Options
	if opts.Key == nil && batchKey != "" {
		k, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, string(batchKey), strconv.Itoa(i))
		if err != nil {
			return BatchResult{Err: fmt.Errorf("item %d: %w", i, err)}
		}
		opts.Key = k
	}
	run, err := c.Trigger(ctx, task, item.Payload, opts)
	if err == nil && wait {
		err = run.Get(ctx, nil)
	}
	if err != nil {
		err = fmt.Errorf("item %d: %w", i, err)
	}
	return BatchResult{Run: run, Err: err}
}
