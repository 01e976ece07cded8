package starter

import (
	"context"
	"fmt"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// What a start carries besides its workflow ID, type, input and request ID:
// the memo (idempotency.Memo: key text, scope, expiry, payload hash) and,
// only when Options.SearchAttributes is on and the namespace has them,
// Once's custom search attributes. Task, environment and key are in the
// workflow ID and type already; the server stores and indexes whatever else
// a start carries, on every start, so Once adds nothing it can derive.
//
// The memo is read back by Lookup and by triggers that cannot judge a run
// from its request ID alone (runFacts): a replacement run, whose request ID
// is the same for every caller and so carries neither TTL nor payload hash;
// a retry, continue-as-new or reset run, whose request ID the server made
// (it copies the memo); a run of an earlier version; a server whose run IDs
// carry no time.

// memo builds the run's memo: the caller's entries, then Once's (key text,
// scope, expiry ttl after now; hash when not "": strict mode, or a
// replacement). An unkeyed run without caller entries gets none.
func (c *Client) memo(p *prepared, now time.Time, hash string) (*commonpb.Memo, error) {
	var own map[string]any
	if p.key.Key != "" {
		own = idempotency.Memo{
			KeyText:     p.key.Text,
			Scope:       p.key.Scope,
			ExpiresAt:   now.Add(p.ttl),
			PayloadHash: hash,
		}.Fields()
	}
	if len(p.extraMemo) == 0 {
		return c.encodeMemo(own)
	}
	all := make(map[string]any, len(p.extraMemo)+len(own))
	for k, v := range p.extraMemo {
		all[k] = v
	}
	for k, v := range own {
		all[k] = v
	}
	return c.encodeMemo(all)
}

// encodeMemo encodes memo entries with the client's data converter; nil
// when there are none.
func (c *Client) encodeMemo(fields map[string]any) (*commonpb.Memo, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	m := &commonpb.Memo{Fields: make(map[string]*commonpb.Payload, len(fields))}
	for k, v := range fields {
		pl, err := c.opts.DataConverter.ToPayload(v)
		if err != nil {
			return nil, fmt.Errorf("encode memo %q: %w", k, err)
		}
		m.Fields[k] = pl
	}
	return m, nil
}

// decodeMemo reads Once's entries of a run's memo.
func (c *Client) decodeMemo(m *commonpb.Memo) idempotency.Memo {
	return idempotency.DecodeMemo(m, c.opts.DataConverter)
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
	f := runFacts{firstRunID: info.GetFirstRunId(), expiresAt: m.ExpiresAt, hash: m.PayloadHash, reset: m.Reset}
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

// searchAttributes are Once's, for a client that sets them
// (Options.SearchAttributes) on a namespace that has them.
func (c *Client) searchAttributes(p *prepared) (*commonpb.SearchAttributes, error) {
	fields := map[string]*commonpb.Payload{}
	values := map[string]string{once.SearchAttrTask: p.task, once.SearchAttrEnvironment: c.opts.Environment}
	if p.key.Key != "" {
		values[once.SearchAttrKey] = string(p.key.Key)
	}
	for k, v := range values {
		pl, err := c.opts.DataConverter.ToPayload(v)
		if err != nil {
			return nil, err
		}
		pl.Metadata["type"] = []byte("Keyword")
		fields[k] = pl
	}
	return &commonpb.SearchAttributes{IndexedFields: fields}, nil
}

// SearchAttributesRegistered reports whether namespace has all of Once's
// custom search attributes (once.SearchAttributes()) as Keyword. The starter
// (Options.SearchAttributes) and the worker (worker.SearchAttributesAuto)
// ask it before they set them; worker.EnsureSearchAttributes registers them.
//
// Errors: the server's (OperatorService.ListSearchAttributes), e.g.
// PermissionDenied.
func SearchAttributesRegistered(ctx context.Context, c client.Client, namespace string) (bool, error) {
	if namespace == "" {
		namespace = client.DefaultNamespace
	}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return false, err
	}
	for _, name := range once.SearchAttributes() {
		if resp.GetCustomAttributes()[name] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			return false, nil
		}
	}
	return true, nil
}
