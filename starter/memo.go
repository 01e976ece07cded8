package starter

import (
	"context"
	"errors"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/runctx"
)

// What a start carries besides its workflow ID, type, input and request ID:
// the memo (idempotency.Memo) and, only when Options.SearchAttributes is on
// and the namespace has them, Once's custom search attributes. The server
// stores whatever a start carries on every start — in the run's first
// history event and visibility row, and on a duplicate start too, before it
// finds the duplicate — so Once adds nothing it can derive:
//
//   - task, environment and key: the workflow ID and type;
//   - the TTL and, in strict mode, the payload hash of a new key: its start
//     request ID (requestID), from which the expiry follows with the run's
//     start time;
//   - so the memo of a new key's run holds only the key text and scope, for
//     the Web UI.
//
// A run that replaced an expired or reset one has a request ID that is the
// same for every caller (so that the server dedupes them) and cannot carry
// the caller's TTL and payload hash: its memo holds its expiry and payload
// hash too, and the start nonce of the caller whose start made it (the
// server keeps the memo of the start it took; each caller sends its own
// nonce and finds out from the run's memo whether it started the run). A retry, continue-as-new or reset run gets a request ID the
// server makes; the server copies the memo to it, and the expiry of a new
// key comes from the request ID of the chain's first run (runFacts).

// memo builds the run's memo: the caller's entries, then Once's: key text
// and scope of a key the caller gave (plan.Trigger.Memo), and expiresAt,
// hash and nonce when not zero (a replacement). An unkeyed run without
// caller entries gets none. The SDK client encodes it with its data
// converter and codec, as any memo it starts a run with.
func (c *Client) memo(p *prepared, expiresAt time.Time, hash, nonce string) map[string]any {
	var own map[string]any
	if p.key() != "" {
		m := p.plan.Memo()
		m.ExpiresAt, m.PayloadHash, m.StartNonce = expiresAt, hash, nonce
		if own = m.Fields(); len(own) == 0 {
			own = nil
		}
	}
	if len(p.extraMemo) == 0 {
		return own
	}
	all := make(map[string]any, len(p.extraMemo)+len(own))
	for k, v := range p.extraMemo {
		all[k] = v
	}
	for k, v := range own {
		all[k] = v
	}
	return all
}

// decoder is the client's data converter as the SDK client uses it for the
// payloads of workflowID (memo, input, result): in the serialization context
// of that workflow, and of ctx for a context-aware converter.
func (c *Client) decoder(ctx context.Context, workflowID string) converter.DataConverter {
	dc := c.settings.dataConverter
	if ca, ok := dc.(interface {
		WithContext(context.Context) converter.DataConverter
	}); ok {
		dc = ca.WithContext(ctx)
	}
	return converter.WithDataConverterSerializationContext(dc, converter.WorkflowSerializationContext{
		Namespace:  c.settings.namespace,
		WorkflowID: workflowID,
	})
}

// decodeMemo reads Once's entries of the memo of a run of workflowID.
func (c *Client) decodeMemo(ctx context.Context, workflowID string, m *commonpb.Memo) idempotency.Memo {
	return runctx.DecodeMemo(m, c.decoder(ctx, workflowID))
}

// runFacts is what a trigger needs to judge a run that its request ID does
// not describe: read from the run's memo and, for a run of a new key, the
// request ID of its chain's first run; neither changes once the run has
// started.
type runFacts struct {
	firstRunID string
	expiresAt  time.Time // zero: never expires (a run Once did not start)
	hash       string    // payload hash; "" when none is recorded
	reset      bool      // a reset marker
	nonce      string    // the start nonce of a replacement run; "" for others
	started    time.Time // the run's start
}

// facts reads the facts of a run — one DescribeWorkflowExecution, and one
// more of the chain's first run when the facts are in its request ID — or
// takes them from the client's cache of runs it has read before. desc, when
// not nil and of runID, is a description already read.
func (c *Client) facts(ctx context.Context, workflowID, runID string, desc *workflowservice.DescribeWorkflowExecutionResponse) (runFacts, error) {
	if f, ok := c.factsCache.get(runID); ok {
		return f, nil
	}
	if desc.GetWorkflowExecutionInfo().GetExecution().GetRunId() != runID {
		var err error
		if desc, err = c.describe(ctx, workflowID, runID); err != nil {
			return runFacts{}, err
		}
	}
	info := desc.GetWorkflowExecutionInfo()
	m := c.decodeMemo(ctx, workflowID, info.GetMemo())
	f := runFacts{firstRunID: info.GetFirstRunId(), expiresAt: m.ExpiresAt, hash: m.PayloadHash, reset: m.Reset, nonce: m.StartNonce, started: info.GetStartTime().AsTime()}
	if !f.reset && f.expiresAt.IsZero() {
		if exp, hash, ok, err := c.newKeyFacts(ctx, workflowID, desc); err != nil {
			return runFacts{}, err
		} else if ok {
			f.expiresAt = exp
			if f.hash == "" {
				f.hash = hash
			}
		}
	}
	c.factsCache.put(runID, f)
	return f, nil
}

// newKeyFacts reads the expiry and payload hash of a run of a new key from
// the request ID that started its chain's first run (desc describes the
// run; the first run is described when it is another). ok is false for a
// chain that Once did not start for a new key, and on a server that does not
// report request IDs (before 1.27): such a run has no expiry.
func (c *Client) newKeyFacts(ctx context.Context, workflowID string, desc *workflowservice.DescribeWorkflowExecutionResponse) (expiresAt time.Time, hash string, ok bool, err error) {
	info := desc.GetWorkflowExecutionInfo()
	if first := info.GetFirstRunId(); first != "" && first != info.GetExecution().GetRunId() {
		if desc, err = c.describe(ctx, workflowID, first); err != nil {
			if errors.Is(err, ErrNotFound) { // the first run's history is gone
				return time.Time{}, "", false, nil
			}
			return time.Time{}, "", false, err
		}
	}
	if rid, parsed := parseRequestID(startRequestID(desc)); parsed && rid.kind == kindNew && rid.ttl > 0 {
		started := desc.GetWorkflowExecutionInfo().GetStartTime().AsTime()
		return started.Add(rid.ttl), rid.hash, true, nil
	}
	return time.Time{}, "", false, nil
}

// startRequestID is the request ID of the start that created the described
// run, as the server reports it (since 1.27); "" when it does not.
func startRequestID(desc *workflowservice.DescribeWorkflowExecutionResponse) string {
	for reqID, ri := range desc.GetWorkflowExtendedInfo().GetRequestIdInfos() {
		if ri.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED {
			return reqID
		}
	}
	return ""
}

// factsCacheSize bounds the runs whose facts a Client keeps.
const factsCacheSize = 4096

// boundedMap is a map safe for concurrent use that forgets everything when
// it holds size entries: a cache of hints, not of truths.
type boundedMap[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

func (b *boundedMap[V]) get(k string) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[k]
	return v, ok
}

func (b *boundedMap[V]) put(k string, v V, size int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil || len(b.m) >= size {
		b.m = make(map[string]V)
	}
	b.m[k] = v
}

// factsCache maps run IDs to their facts.
type factsCache struct{ boundedMap[runFacts] }

func (fc *factsCache) put(runID string, f runFacts) { fc.boundedMap.put(runID, f, factsCacheSize) }

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
