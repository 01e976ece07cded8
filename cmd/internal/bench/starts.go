package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// newKeys: Trigger with a new key vs ExecuteWorkflow of a new ID.
func (e *env) newKeys(ctx context.Context, rep *Report) error {
	n, p := e.cfg.NewKeyStarts, e.cfg.Concurrency
	rounds, err := e.alternate(ctx, "new-key", e.cfg.Rounds, e.timed(n, p, e.rawNew(e.plain)), e.timed(n, p, e.onceNew(e.plain)))
	if err != nil {
		return err
	}
	rep.add(sectionStarts, rates(fmt.Sprintf("new key: Trigger vs ExecuteWorkflow (%d callers)", p), "starts/s", n, rounds, AtLeast(0.97)))
	if !e.cfg.Diagnostics {
		return nil
	}
	// What Once's memo costs the server: the same raw start carrying it.
	withMemo := e.rawNewWithMemo(e.plain, func() map[string]any {
		return idempotency.Memo{KeyText: e.unique("memo"), Scope: idempotency.ScopeGlobal, ExpiresAt: time.Now().Add(idempotency.DefaultTTL)}.Fields()
	})
	rounds, err = e.alternate(ctx, "new-key (raw with Once's memo)", e.cfg.Rounds, e.timed(n, p, e.rawNew(e.plain)), e.timed(n, p, withMemo))
	if err != nil {
		return err
	}
	rep.add(sectionStarts, rates("  diagnostic: raw start with Once's memo vs without", "starts/s", n, rounds, NoGoal))
	return nil
}

// cachedHits: Trigger of an existing key vs the cheapest raw duplicate start
// (REJECT_DUPLICATE, error when already started) of the same workflow IDs.
func (e *env) cachedHits(ctx context.Context, rep *Report) error {
	keys, ids, err := e.existingKeys(ctx, e.plain, e.cfg.CachedKeys)
	if err != nil {
		return err
	}
	n, p := e.cfg.CachedHits, e.cfg.Concurrency
	// A key the client has seen answered is read (starter.Options.SeenKeys);
	// one it has not, as from another process, is a duplicate start.
	rounds, err := e.alternate(ctx, "cached-hit (seen)", e.cfg.Rounds, e.timed(n, p, e.rawHit(e.plain, ids)), e.timed(n, p, e.onceHit(e.plain.starter, keys)))
	if err != nil {
		return err
	}
	rep.add(sectionStarts, rates(fmt.Sprintf("cached hit, key the client has seen: Trigger vs raw duplicate start (%d callers)", p), "calls/s", n, rounds, AtLeast(1.0)))
	rounds, err = e.alternate(ctx, "cached-hit (new to the client)", e.cfg.Rounds, e.timed(n, p, e.rawHit(e.plain, ids)), e.timed(n, p, e.onceHit(e.plain.unseen, keys)))
	if err != nil {
		return err
	}
	rep.add(sectionStarts, rates(fmt.Sprintf("cached hit, key new to the client: Trigger vs raw duplicate start (%d callers)", p), "calls/s", n, rounds, AtLeast(1.0)))
	if !e.cfg.Diagnostics {
		return nil
	}
	// What Once's memo costs the server on a hit: the server builds the new
	// run's state before it finds the conflict.
	memo := idempotency.Memo{KeyText: "hit-key", Scope: idempotency.ScopeGlobal, ExpiresAt: time.Now().Add(idempotency.DefaultTTL)}.Fields()
	withMemo := e.rawHitWithMemo(e.plain, ids, memo)
	rounds, err = e.alternate(ctx, "cached-hit (raw with Once's memo)", e.cfg.Rounds, e.timed(n, p, e.rawHit(e.plain, ids)), e.timed(n, p, withMemo))
	if err != nil {
		return err
	}
	rep.add(sectionStarts, rates("  diagnostic: raw duplicate start with Once's memo vs without", "calls/s", n, rounds, NoGoal))
	// What a read of the run costs instead of a duplicate start.
	describe := func(ctx context.Context, i int) error {
		_, err := e.plain.c.DescribeWorkflowExecution(ctx, ids[i%len(ids)], "")
		return err
	}
	rounds, err = e.alternate(ctx, "cached-hit (raw describe)", e.cfg.Rounds, e.timed(n, p, e.rawHit(e.plain, ids)), e.timed(n, p, describe))
	if err != nil {
		return err
	}
	rep.add(sectionStarts, rates("  diagnostic: raw DescribeWorkflowExecution vs raw duplicate start", "calls/s", n, rounds, NoGoal))
	return nil
}

// existingKeys triggers n new keys and returns them with their workflow IDs.
func (e *env) existingKeys(ctx context.Context, s side, n int) ([]idempotency.Parts, []string, error) {
	keys := make([]idempotency.Parts, n)
	ids := make([]string, n)
	for i := range keys {
		keys[i] = idempotency.Parts{e.unique("hit")}
	}
	_, err := e.measure(ctx, n, e.cfg.Concurrency, func(ctx context.Context, i int) error {
		run, err := s.starter.Trigger(ctx, noopTask.ID(), 1, starter.TriggerOptions{Key: keys[i]})
		if err == nil {
			ids[i] = run.WorkflowID
		}
		return err
	})
	return keys, ids, err
}

// rawHit starts the workflow IDs ids again, in turn, with REJECT_DUPLICATE
// and WorkflowExecutionErrorWhenAlreadyStarted: the cheapest raw duplicate
// start.
func (e *env) rawHit(s side, ids []string) func(context.Context, int) error {
	return e.rawHitWithMemo(s, ids, nil)
}

// rawHitWithMemo is rawHit whose starts carry memo.
func (e *env) rawHitWithMemo(s side, ids []string, memo map[string]any) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		_, err := s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                                       ids[i%len(ids)],
			TaskQueue:                                e.queue,
			WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			Memo:                                     memo,
		}, noopTask.ID(), 1)
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			return nil
		}
		if err == nil {
			return errors.New("bench: a raw duplicate start started a run")
		}
		return err
	}
}

func (e *env) onceHit(s *starter.Client, keys []idempotency.Parts) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		run, err := s.Trigger(ctx, noopTask.ID(), 1, starter.TriggerOptions{Key: keys[i%len(keys)]})
		if err == nil && !run.Cached {
			err = errors.New("bench: an existing key was not cached")
		}
		return err
	}
}

// batch returns one side of a batch pair: BatchTrigger of n new items under
// a fresh batch key at parallelism p (0: the starter's default).
func (e *env) batch(s side, n, p int) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		items := make([]starter.BatchItem, n)
		for i := range items {
			items[i].Payload = i
		}
		start := time.Now()
		res, err := s.starter.BatchTrigger(ctx, noopTask.ID(), items, starter.BatchOptions{
			BatchKey: idempotency.Parts{e.unique("batch")}, Parallelism: p,
		})
		d := time.Since(start)
		if err != nil {
			return 0, err
		}
		for _, r := range res {
			if r.Err != nil {
				return 0, r.Err
			}
			if r.Run.Cached {
				return 0, errors.New("bench: a new batch item came back cached")
			}
		}
		return d, nil
	}
}

// batches: BatchTrigger vs raw starts at the same parallelism.
func (e *env) batches(ctx context.Context, rep *Report) error {
	n, p := e.cfg.BatchItems, e.cfg.Concurrency
	rounds, err := e.alternate(ctx, "batch", e.cfg.BatchRounds, e.timed(n, p, e.rawNew(e.plain)), e.batch(e.plain, n, p))
	if err != nil {
		return err
	}
	rep.add(sectionStarts, rates(fmt.Sprintf("BatchTrigger %d items vs raw parallel starts (parallelism %d)", n, p), "items/s", n, rounds, AtLeast(0.95)))
	return nil
}
