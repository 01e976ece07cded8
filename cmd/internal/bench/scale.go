package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// fillParallelism is how many starts the fill keeps in flight.
const fillParallelism = 32

// scale measures the new-key and cached-hit pairs with more and more runs
// in the namespace (Config.ScaleCounts): the cost of a start must not grow
// with the work already done, for Once no more than for the raw SDK. The
// namespace is filled with open runs, half triggered by Once with keys, half
// started raw; the cached hits cycle over keys spread over all of Once's.
func (e *env) scale(ctx context.Context, rep *Report) error {
	var (
		mu   sync.Mutex
		keys []idempotency.Parts
		ids  []string
	)
	fillOnce := func(ctx context.Context, _ int) error {
		k := idempotency.Parts{e.unique("fill")}
		run, err := e.plain.starter.Trigger(ctx, noopTask.ID(), 1, starter.TriggerOptions{Key: k})
		if err == nil {
			mu.Lock()
			keys, ids = append(keys, k), append(ids, run.WorkflowID)
			mu.Unlock()
		}
		return err
	}
	n, hits, p := e.cfg.NewKeyStarts, e.cfg.CachedHits, e.cfg.Concurrency
	for _, target := range e.cfg.ScaleCounts {
		have, err := e.count(ctx)
		if err != nil {
			return err
		}
		fill := time.Now()
		if need := target - int(have); need > 0 {
			if _, err := e.measure(ctx, need/2, fillParallelism, fillOnce); err != nil {
				return err
			}
			if _, err := e.measure(ctx, need-need/2, fillParallelism, e.rawNew(e.plain)); err != nil {
				return err
			}
		}
		fillTime := time.Since(fill)
		e.settle(ctx) // visibility records the last starts
		if have, err = e.count(ctx); err != nil {
			return err
		}
		fmt.Fprintf(e.cfg.Log, "scale: %d runs in the namespace (filled in %s)\n", have, fillTime.Round(time.Second))
		// Cached hits over keys spread across everything filled so far.
		m := min(e.cfg.CachedKeys, len(keys))
		hk, hid := make([]idempotency.Parts, m), make([]string, m)
		for i := range m {
			j := i * len(keys) / m
			hk[i], hid[i] = keys[j], ids[j]
		}
		label := fmt.Sprintf("scale %d", have)
		newKey, err := e.alternate(ctx, label+" new-key", e.cfg.ScaleRounds, e.timed(n, p, e.rawNew(e.plain)), e.timed(n, p, e.onceNew(e.plain)))
		if err != nil {
			return err
		}
		cached, err := e.alternate(ctx, label+" cached-hit", e.cfg.ScaleRounds, e.timed(hits, p, e.rawHit(e.plain, hid)), e.timed(hits, p, e.onceHit(e.plain.unseen, hk)))
		if err != nil {
			return err
		}
		seen, err := e.alternate(ctx, label+" cached-hit (seen)", e.cfg.ScaleRounds, e.timed(hits, p, e.rawHit(e.plain, hid)), e.timed(hits, p, e.onceHit(e.plain.starter, hk)))
		if err != nil {
			return err
		}
		rep.Scale = append(rep.Scale, ScalePoint{
			Runs:          have,
			FillSeconds:   fillTime.Seconds(),
			NewKey:        rates("new key: Trigger vs ExecuteWorkflow", "starts/s", n, newKey, AtLeast(0.97)),
			CachedHit:     rates("cached hit, key new to the client: Trigger vs raw duplicate start", "calls/s", hits, cached, AtLeast(1.0)),
			CachedHitSeen: rates("cached hit, key the client has seen: Trigger vs raw duplicate start", "calls/s", hits, seen, AtLeast(1.0)),
		})
	}
	rep.scaleTrends()
	return nil
}

// count is the number of runs in the namespace, by visibility.
func (e *env) count(ctx context.Context) (int64, error) {
	resp, err := e.plain.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: e.namespace})
	if err != nil {
		return 0, fmt.Errorf("bench: count runs: %w", err)
	}
	return resp.GetCount(), nil
}
