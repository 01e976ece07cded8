package starter

import (
	"context"
	"fmt"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"

	"github.com/once-run/once"
)

// The memo of a run, written when Once starts it and read back by Lookup and
// by triggers that cannot judge a run from its request ID alone.

// memo builds the run's memo: the caller's entries, then Once's. hash is the
// payload hash to record ("" for none); the key expires ttl after now.
func (c *Client) memo(p *prepared, now time.Time, hash string) (*commonpb.Memo, error) {
	fields := make(map[string]*commonpb.Payload, len(p.extraMemo)+6)
	put := func(k string, v any) error {
		pl, err := c.opts.DataConverter.ToPayload(v)
		if err != nil {
			return fmt.Errorf("encode memo %q: %w", k, err)
		}
		fields[k] = pl
		return nil
	}
	for k, v := range p.extraMemo {
		if err := put(k, v); err != nil {
			return nil, err
		}
	}
	type entry struct {
		k string
		v any
	}
	entries := []entry{{once.MemoTask, p.task}, {once.MemoEnvironment, c.opts.Environment}}
	if p.key.Key != "" {
		entries = append(entries,
			entry{once.MemoKeyText, p.key.Text},
			entry{once.MemoKeyScope, string(p.key.Scope)},
			entry{once.MemoExpiresAt, now.Add(p.ttl).UTC().Format(time.RFC3339Nano)})
		if hash != "" {
			entries = append(entries, entry{once.MemoPayloadHash, hash})
		}
	}
	for _, e := range entries {
		if err := put(e.k, e.v); err != nil {
			return nil, err
		}
	}
	return &commonpb.Memo{Fields: fields}, nil
}

// memoInfo is what Once reads back from a run's memo.
type memoInfo struct {
	keyText     string
	scope       string
	expiresAt   time.Time
	payloadHash string
	reset       bool
}

func (c *Client) decodeMemo(m *commonpb.Memo) memoInfo {
	var mi memoInfo
	get := func(k string, v any) bool {
		p, ok := m.GetFields()[k]
		return ok && c.opts.DataConverter.FromPayload(p, v) == nil
	}
	get(once.MemoKeyText, &mi.keyText)
	get(once.MemoKeyScope, &mi.scope)
	var exp string
	if get(once.MemoExpiresAt, &exp) {
		mi.expiresAt, _ = time.Parse(time.RFC3339Nano, exp)
	}
	get(once.MemoPayloadHash, &mi.payloadHash)
	get(once.MemoReset, &mi.reset)
	return mi
}

// runFacts is what a trigger needs to judge a run that its request ID does
// not describe: read from the run's memo, which never changes once the run
// has started.
type runFacts struct {
	firstRunID string
	expiresAt  time.Time // zero: never expires (a run Once did not start)
	hash       string    // payload hash; "" when the memo has none
	reset      bool      // a reset marker
}

// facts reads the facts of a run with one DescribeWorkflowExecution, or from
// the client's cache of runs it has read before.
func (c *Client) facts(ctx context.Context, workflowID, runID string) (runFacts, error) {
	if f, ok := c.factsCache.get(runID); ok {
		return f, nil
	}
	desc, err := c.describe(ctx, workflowID, runID)
	if err != nil {
		return runFacts{}, err
	}
	info := desc.GetWorkflowExecutionInfo()
	m := c.decodeMemo(info.GetMemo())
	f := runFacts{firstRunID: info.GetFirstRunId(), expiresAt: m.expiresAt, hash: m.payloadHash, reset: m.reset}
	c.factsCache.put(runID, f)
	return f, nil
}

// factsCacheSize bounds the runs whose facts a Client keeps.
const factsCacheSize = 4096

// factsCache maps run IDs to their facts; it forgets everything when full.
type factsCache struct {
	mu sync.Mutex
	m  map[string]runFacts
}

func (fc *factsCache) get(runID string) (runFacts, bool) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	f, ok := fc.m[runID]
	return f, ok
}

func (fc *factsCache) put(runID string, f runFacts) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.m == nil || len(fc.m) >= factsCacheSize {
		fc.m = make(map[string]runFacts)
	}
	fc.m[runID] = f
}
