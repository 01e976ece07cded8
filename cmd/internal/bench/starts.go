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
	withMemo := func(ctx context.Context, _ int) error {
		_, err := e.plain.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                    e.rawID(),
			TaskQueue:             e.queue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			Memo: idempotency.Memo{
				KeyText: e.unique("memo"), Scope: idempotency.ScopeGlobal, ExpiresAt: time.Now().Add(idempotency.DefaultTTL),
			}.Fields(),
		}, noopTask.ID(), 1)
		return err
	}
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
	withMemo := func(ctx context.Context, i int) error {
		_, err := e.plain.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
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
		return fmt.Errorf("bench: a raw duplicate start: %v", err)
	}
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

func (e *env) rawHit(s side, ids []string) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		_, err := s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                                       ids[i%len(ids)],
			TaskQueue:                                e.queue,
			WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
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

// parents: a Once parent with Children TriggerAndWait children vs a raw
// parent with Children child workflows; time from start to result.
func (e *env) parents(ctx context.Context, rep *Report) error {
	if err := e.drain(ctx); err != nil {
		return err
	}
	n, k := e.cfg.Children, e.cfg.ParentsPerRound
	// triggered triggers task under a fresh key with the worker's starter
	// and waits.
	triggered := func(prefix, task string) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			var sum int
			run, err := e.runner.TriggerAndWait(ctx, task, n, &sum, starter.TriggerOptions{Key: idempotency.Parts{e.unique(prefix)}})
			if err != nil {
				return "", err
			}
			return run.WorkflowID, checkSum(nil, sum, n)
		}
	}
	onceParent := triggered("parent", parentTask.ID())
	// executed starts workflowType on queue with ExecuteWorkflow and waits.
	executed := func(prefix, queue, workflowType string) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			run, err := e.plain.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: e.unique(prefix), TaskQueue: queue}, workflowType, n)
			if err != nil {
				return "", err
			}
			var sum int
			err = run.Get(ctx, &sum)
			return run.GetID(), checkSum(err, sum, n)
		}
	}
	rawParentRun := executed("raw-parent", rawQueue, "bench-raw-parent")
	// perParent times k parents one after the other; with --diagnostics it
	// then prints their timelines (not timed).
	perParent := func(label string, f func(context.Context) (string, error)) func(context.Context) (time.Duration, error) {
		return func(ctx context.Context) (time.Duration, error) {
			ids := make([]string, k)
			start := time.Now()
			for i := range k {
				var err error
				if ids[i], err = f(ctx); err != nil {
					return 0, err
				}
			}
			d := time.Since(start) / time.Duration(k)
			if e.cfg.Diagnostics {
				for _, id := range ids {
					e.timeline(ctx, label, id)
				}
			}
			return d, nil
		}
	}
	rounds, err := e.alternate(ctx, "parent", e.cfg.ParentRounds, perParent("raw ", rawParentRun), perParent("once", onceParent))
	if err != nil {
		return err
	}
	rep.add(sectionStarts, durations(fmt.Sprintf("parent with %d TriggerAndWait children vs %d ExecuteChildWorkflow (%d per side and round)", n, n, k), "s/parent", rounds, AtMost(1.05)))
	if !e.cfg.Diagnostics {
		return nil
	}
	// The same parents four ways in one rotation: raw; Once; Once's parent
	// task on a plain SDK worker, started by ExecuteWorkflow; and on Once's
	// worker, started by ExecuteWorkflow (no memo, no key).
	plainOnceParent := executed("plain-once-parent", plainOnceQueue, parentTask.ID())
	rawStartParent := executed("raw-start-parent", e.runner.TaskQueue(), parentTask.ID())
	four, err := e.rotate(ctx, "parent (4 ways)", e.cfg.ParentRounds,
		perParent("raw ", rawParentRun), perParent("once", onceParent), perParent("plain once", plainOnceParent), perParent("raw-started once", rawStartParent))
	if err != nil {
		return err
	}
	vs := make([][]pair, 3)
	for _, t := range four {
		for i := range vs {
			vs[i] = append(vs[i], pair{raw: t[0], once: t[i+1]})
		}
	}
	rep.add(sectionStarts, durations("  diagnostic: the parent pair again, in a rotation with the next two", "s/parent", vs[0], NoGoal))
	rep.add(sectionStarts, durations("  diagnostic: Once's parent task on a plain SDK worker, started by ExecuteWorkflow, vs raw", "s/parent", vs[1], NoGoal))
	rep.add(sectionStarts, durations("  diagnostic: Once's parent task on Once's worker, started by ExecuteWorkflow, vs raw", "s/parent", vs[2], NoGoal))

	// The same children from one BatchTriggerAndWait (no coroutine each).
	batchParent := triggered("parent-batch", parentBatchTask.ID())
	rounds, err = e.alternate(ctx, "parent (BatchTriggerAndWait)", e.cfg.ParentRounds, perParent("raw ", rawParentRun), perParent("once batch", batchParent))
	if err != nil {
		return err
	}
	rep.add(sectionStarts, durations(fmt.Sprintf("  diagnostic: parent with one BatchTriggerAndWait of %d vs %d ExecuteChildWorkflow", n, n), "s/parent", rounds, NoGoal))
	return nil
}

func checkSum(err error, sum, n int) error {
	if err != nil {
		return err
	}
	if want := n * (n - 1) / 2; sum != want {
		return fmt.Errorf("bench: parent returned %d, want %d", sum, want)
	}
	return nil
}

// timeline prints where the time of one parent went, from its history: the
// workflow tasks (scheduled → started → completed) and the child events.
func (e *env) timeline(ctx context.Context, label, workflowID string) {
	it := e.plain.c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var first time.Time
	var wft, started, completed int
	var lastStarted, lastCompleted, sched time.Time
	var wftQueue, wftRun time.Duration
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			fmt.Fprintf(e.cfg.Log, "timeline %s: %v\n", label, err)
			return
		}
		t := ev.GetEventTime().AsTime()
		if first.IsZero() {
			first = t
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			sched = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			wft++
			wftQueue += t.Sub(sched)
			sched = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			wftRun += t.Sub(sched)
		case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
			started++
			lastStarted = t
		case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
			completed++
			lastCompleted = t
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			fmt.Fprintf(e.cfg.Log, "timeline %s: %d WFTs (queued %s, running %s), %d children started by %s, %d completed by %s, closed at %s\n",
				label, wft, wftQueue.Round(time.Millisecond), wftRun.Round(time.Millisecond), started, lastStarted.Sub(first).Round(time.Millisecond),
				completed, lastCompleted.Sub(first).Round(time.Millisecond), t.Sub(first).Round(time.Millisecond))
		}
	}
}
