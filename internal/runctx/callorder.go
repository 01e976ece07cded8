package runctx

import (
	"context"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// NextCallOrdinal counts the calls named name (a task ID, for the starter)
// in the activity attempt that ctx belongs to, and returns this call's
// ordinal: 1 for the first, 2 for the second, … Each attempt counts from 1
// again, so a retried attempt that makes the same calls in the same order
// gets the same ordinals. ok is false outside an activity.
//
// The count lives in the context of the attempt, put there by the context
// propagator (NewContextPropagator), which Once's worker and package
// oncetest apply to every activity attempt; in an activity without either, in a table of this process keyed
// by the attempt (workflow run, activity ID, attempt), whose entries are
// dropped after the attempt's deadline.
//
// Calls from several goroutines of one attempt are counted safely, but which
// call gets which ordinal then depends on scheduling.
func NextCallOrdinal(ctx context.Context, name string) (n int, ok bool) {
	if ctx == nil {
		return 0, false
	}
	if c, ok := ctx.Value(callCounterKey{}).(*callCounter); ok {
		return c.next(name), true
	}
	if !activity.IsActivity(ctx) {
		return 0, false
	}
	return attemptCounters.get(activity.GetInfo(ctx)).next(name), true
}

// callCounter counts calls by name in one activity attempt.
type callCounter struct {
	mu      sync.Mutex
	n       map[string]int
	expires time.Time // for attemptCounters only
}

func (c *callCounter) next(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
	return c.n[name]
}

type callCounterKey struct{}

// withCallCounter returns ctx with a fresh call counter: the start of an
// activity attempt.
func withCallCounter(ctx context.Context) context.Context {
	return context.WithValue(ctx, callCounterKey{}, &callCounter{})
}

// attemptCounters holds the call counters of activity attempts whose context
// has none (no propagator, no Once worker).
var attemptCounters = &counterTable{m: map[string]*callCounter{}}

type counterTable struct {
	mu      sync.Mutex
	m       map[string]*callCounter
	sweepAt int // sweep expired entries when the table reaches this size
}

// attemptLifetime bounds an entry whose attempt has no deadline.
const attemptLifetime = 24 * time.Hour

func (t *counterTable) get(info activity.Info) *callCounter {
	k := info.WorkflowExecution.ID + "\x00" + info.WorkflowExecution.RunID + "\x00" + info.ActivityID + "\x00" + strconv.Itoa(int(info.Attempt))
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.m[k]; ok {
		return c
	}
	now := time.Now()
	if len(t.m) >= t.sweepAt {
		for k, c := range t.m {
			if now.After(c.expires) {
				delete(t.m, k)
			}
		}
		t.sweepAt = 2*len(t.m) + 64
	}
	c := &callCounter{expires: info.Deadline}
	if c.expires.IsZero() {
		c.expires = now.Add(attemptLifetime)
	}
	t.m[k] = c
	return c
}
