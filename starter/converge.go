package starter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// maxReplaceRounds bounds the rounds of one trigger: a key whose run keeps
// being replaced by others under our feet is an error, not a loop.
const maxReplaceRounds = 8

// current is the judgement of the run that holds a workflow ID.
type current struct {
	runID      string // the current run
	firstRunID string // its chain's first run
	cached     bool   // it answers for the key
	marker     bool   // a reset marker: replace it
	hash       string // the original payload's hash; "" when unknown

	// What the trigger knows of the run's expiry (see current.expiry).
	ttlExpiry time.Time                       // by its TTL; zero: none recorded
	started   time.Time                       // of runID; zero when unknown
	status    enumspb.WorkflowExecutionStatus // UNSPECIFIED when not read
	closeTime time.Time                       // zero while running or not read
}

// converge finds the run that answers for the key once the start of a new
// key found the workflow ID taken: the current run (a cached hit), or the one
// run that replaces it — when it has expired, when it is a reset marker, or,
// with RetryFailed or FailureRelease, when it failed.
//
// A replacement is a start whose request ID is derived from the replaced run
// alone (requestID kindReplace), whatever the caller's TTL, payload or
// strictness: the server answers every start that carries the request ID of
// its current run with that run, so all callers that replace the same run
// get the one new run. The reuse policy lets the server refuse atomically
// what the caller cannot check without a race: ALLOW_DUPLICATE with conflict
// policy FAIL refuses a run that is still running;
// ALLOW_DUPLICATE_FAILED_ONLY also refuses one that completed.
func (c *Client) converge(ctx context.Context, p *prepared, already *serviceerror.WorkflowExecutionAlreadyStarted, desc *workflowservice.DescribeWorkflowExecutionResponse) (*Run, string, error) {
	for round := 0; round < maxReplaceRounds; round++ {
		cur, err := c.judge(ctx, p, already, desc)
		if err != nil {
			return nil, once.OutcomeFailed, err
		}
		if cur.cached && !p.retryFailed {
			release := false
			if p.onFailure != FailureKeep {
				if release, err = c.released(ctx, p, &cur, desc); err != nil {
					return nil, once.OutcomeFailed, err
				}
			}
			if !release {
				return c.cachedRun(ctx, p, cur)
			}
		}
		policy := enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
		if cur.cached {
			policy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
		}
		nonce := uuid.NewString()
		runID, err := c.start(ctx, c.replacement(p, cur.runID, policy, nonce))
		if err == nil {
			return c.replaced(ctx, p, runID, nonce)
		}
		if !errors.As(err, &already) {
			return nil, once.OutcomeFailed, rpcError(ctx, err)
		}
		if already.RunId != cur.runID {
			continue // another run took the workflow ID meanwhile: judge it
		}
		// The server kept cur: it is still running (or, for RetryFailed, it
		// completed).
		if cur.status == enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED && policy == enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE {
			cur.status = enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
		}
		if cur.marker {
			// A marker left open by a ResetKey that stopped between its
			// start and its termination: close it, then replace it.
			if err := c.terminate(ctx, p.workflowID(), cur.runID, "once: key reset"); err != nil {
				return nil, once.OutcomeFailed, err
			}
			continue
		}
		return c.cachedRun(ctx, p, cur)
	}
	return nil, once.OutcomeFailed, fmt.Errorf("workflow %s: its run was replaced %d times while triggering; try again", p.workflowID(), maxReplaceRounds)
}

// released reports whether the run cur gives up its key: it closed failed,
// timed out or terminated, and the trigger's policy, or with FailureDefault
// the one the run's memo records (the task's), is FailureRelease. A closed
// run's status and memo entry never change, so the judgement holds for the
// replacement's start, which the server makes with
// ALLOW_DUPLICATE_FAILED_ONLY all the same. desc, when it describes the run,
// saves the read; cur gets the run's status and close time. With
// FailureDefault a task known to keep its keys is not read (failure.go), and
// a read that fails keeps the run, as one that records no policy.
func (c *Client) released(ctx context.Context, p *prepared, cur *current, desc *workflowservice.DescribeWorkflowExecutionResponse) (bool, error) {
	if desc.GetWorkflowExecutionInfo().GetExecution().GetRunId() != cur.runID {
		if p.onFailure == FailureDefault && c.keeps(p.task()) {
			return false, nil
		}
		var err error
		if desc, err = c.describe(ctx, p.workflowID(), cur.runID); err != nil {
			if p.onFailure == FailureDefault && contextErr(ctx) == nil {
				return false, nil
			}
			return false, err
		}
	}
	c.learnPolicy(ctx, p.task(), p.workflowID(), desc)
	cur.read(desc)
	switch desc.GetWorkflowExecutionInfo().GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED,
		enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
		enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		if p.onFailure == FailureRelease {
			return true, nil
		}
		m := c.decodeMemo(ctx, p.workflowID(), desc.GetWorkflowExecutionInfo().GetMemo())
		return m.OnFailure == FailureRelease, nil
	}
	return false, nil
}

// replaced answers a replacement start that the server answered with the
// run runID: made by this caller's start, or by another caller's that the
// server took first (it answers every start with the request ID of its
// current run with that run, as if each had made it). The run's memo holds
// the start nonce of the start that made it: the caller that finds its own
// started the run (Cached=false, outcome restarted); every other caller gets
// it Cached, as a cached hit. The read is one DescribeWorkflowExecution, of
// facts a later trigger of this Client that meets the run would read anyway
// (and kept for it); strict mode compares with the payload hash it holds.
// When the read fails the run is returned Cached with the error: whether this
// caller started it is not known.
func (c *Client) replaced(ctx context.Context, p *prepared, runID, nonce string) (*Run, string, error) {
	f, err := c.facts(ctx, p.workflowID(), runID, nil)
	if err != nil {
		return c.run(p, runID, true), once.OutcomeFailed, fmt.Errorf("read the memo of the new run %s: %w", runID, err)
	}
	mine := f.nonce == nonce
	run := c.run(p, runID, !mine)
	// Just made: running, with the TTL of the caller whose start made it.
	run.ExpiresAt, run.ExpiryBound = effectiveExpiry(f.expiresAt, time.Time{}, p.retention)
	if p.strict && !mine {
		if err := c.checkPayload(ctx, p, current{runID: runID, firstRunID: runID, hash: f.hash}); err != nil {
			return run, once.OutcomeFailed, err
		}
	}
	if !mine {
		return run, once.OutcomeCached, nil
	}
	return run, once.OutcomeRestarted, nil
}

// cachedRun answers with cur, after the strict-mode check.
func (c *Client) cachedRun(ctx context.Context, p *prepared, cur current) (*Run, string, error) {
	run := c.run(p, cur.firstRunID, true)
	run.ExpiresAt, run.ExpiryBound = cur.expiry(p.retention)
	if p.strict {
		if err := c.checkPayload(ctx, p, cur); err != nil {
			return run, once.OutcomeFailed, err
		}
	}
	return run, once.OutcomeCached, nil
}

// replacement is the start that replaces the run replaced: the caller's
// request with the request ID of the replacement of that run, and a memo
// with the TTL counted from now and the payload hash, which the request ID
// no longer carries, and the caller's start nonce (see replaced).
func (c *Client) replacement(p *prepared, replaced string, policy enumspb.WorkflowIdReusePolicy, nonce string) startSpec {
	hash := p.hash
	if hash == "" {
		// Recorded for strict callers that will find this run; a payload
		// canonical JSON cannot hash is recorded without.
		if h, err := idempotency.PayloadHash(p.payload); err == nil {
			hash = string(h)
		}
	}
	s := p.start
	s.memo = c.memo(p, c.opts.Now().Add(p.ttl), hash, nonce)
	s.requestID = requestID{kind: kindReplace, suffix: replaced}.String()
	s.policy = policy
	return s
}

// judge decides whether the run named by a duplicate-start error answers for
// the key (cached) or is to be replaced (expired or reset; a run that may
// have failed is judged cached, and RetryFailed tries to replace it).
//
// A run that Once started for a new key carries its TTL and payload hash in
// its request ID and its creation time in its run ID (UUIDv7): no RPC. Any
// other run — a replacement, a run Once did not start, a retried or
// continued-as-new run, a run ID without time — is judged from its memo
// (read from desc when it describes that run, as recheck's does).
func (c *Client) judge(ctx context.Context, p *prepared, already *serviceerror.WorkflowExecutionAlreadyStarted, desc *workflowservice.DescribeWorkflowExecutionResponse) (current, error) {
	cur := current{runID: already.RunId, firstRunID: already.FirstExecutionRunId}
	if cur.firstRunID == "" {
		cur.firstRunID = cur.runID
	}
	cur.read(desc)
	rid, parsed := parseRequestID(already.StartRequestId)
	if parsed && rid.kind == kindMarker {
		cur.marker = true
		return cur, nil
	}
	if parsed && rid.ttl > 0 && cur.firstRunID == cur.runID {
		if created, ok := runIDTime(cur.runID); ok {
			cur.hash = rid.hash
			if cur.started.IsZero() {
				cur.started = created
			}
			// From the start time when the run was read (as Lookup counts
			// it), else from the run ID's: the same to the millisecond.
			cur.ttlExpiry = cur.started.Add(rid.ttl)
			cur.cached = c.opts.Now().Before(created.Add(rid.ttl))
			return cur, nil
		}
	}
	f, err := c.facts(ctx, p.workflowID(), cur.runID, desc)
	if err != nil {
		return cur, err
	}
	if f.firstRunID != "" {
		cur.firstRunID = f.firstRunID
	}
	cur.hash = f.hash
	cur.ttlExpiry = f.expiresAt
	if cur.started.IsZero() {
		cur.started = f.started
	}
	switch {
	case f.reset:
		cur.marker = true
	case f.expiresAt.IsZero():
		cur.cached = true // no expiry recorded: the run answers for good
	default:
		cur.cached = c.opts.Now().Before(f.expiresAt)
	}
	return cur, nil
}

// checkPayload compares this trigger's payload hash with that of the run
// cur: the one its request ID or memo recorded, else the hash of the input of
// its start event.
func (c *Client) checkPayload(ctx context.Context, p *prepared, cur current) error {
	orig := cur.hash
	if orig == "" {
		var err error
		if orig, err = c.originalPayloadHash(ctx, p.workflowID(), cur.firstRunID); err != nil {
			return err
		}
	}
	if orig != p.hash {
		return fmt.Errorf("workflow %s: %w", p.workflowID(), ErrKeyReusedWithDifferentPayload)
	}
	return nil
}
