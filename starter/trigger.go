package starter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// TriggerOptions configures one trigger. The zero value triggers without a
// key: a new run every time (outside a task).
type TriggerOptions struct {
	// Key makes the trigger idempotent: idempotency.Parts (hashed with
	// Scope) or an idempotency.Key (used as is). Optional: without a key,
	// a trigger from outside a task always starts a new run; from inside an
	// activity the key defaults to (activity ID, task), run-scoped, so an
	// activity retry finds the run its earlier attempt started.
	Key idempotency.Input

	// Scope of Parts keys: run, attempt or global. Optional: defaults to
	// run inside a task (an activity whose context carries the run), which
	// is global outside any task.
	Scope idempotency.Scope

	// TTL of the key, counted from the run's start; after it a closed run no
	// longer answers for the key. Optional: defaults to Options.DefaultTTL.
	// Negative is an error (idempotency.ErrInvalidTTL).
	TTL time.Duration

	// RetryFailed starts a new run when the key's run closed failed, timed
	// out, was canceled or terminated (reuse policy
	// ALLOW_DUPLICATE_FAILED_ONLY). Optional: defaults to false (such a run
	// is returned as a cached hit).
	RetryFailed bool

	// Strict makes a cached hit whose payload differs from the original
	// run's payload an error (ErrKeyReusedWithDifferentPayload). Payloads
	// are compared in canonical JSON, so field order does not matter.
	// Optional: defaults to false.
	Strict bool

	// RetryPolicy overrides the task's (Options.Tasks). Optional.
	RetryPolicy *temporal.RetryPolicy
	// ExecutionTimeout, RunTimeout and TaskTimeout override the task's.
	// Optional.
	ExecutionTimeout, RunTimeout, TaskTimeout time.Duration
	// StartDelay delays the first workflow task. Optional: defaults to none.
	StartDelay time.Duration
	// Memo adds entries to the run's memo (Once's own "once.*" entries win).
	// Optional.
	Memo map[string]any
}

// Run is a handle on a task run.
type Run struct {
	// Task is the task ID.
	Task string
	// WorkflowID is "<env>/<task>/<key>" (or "<env>/<task>/<uuid>" unkeyed).
	WorkflowID string
	// RunID is the run's stable ID: the first run ID of its workflow chain.
	RunID string
	// Key is the idempotency key ("" for an unkeyed trigger).
	Key idempotency.Key
	// Cached is true when the trigger returned an existing run.
	Cached bool

	c *Client
}

// Get waits for the run to close and decodes its result into valuePtr (nil
// to discard it). A failed run returns its error (a *temporal.WorkflowExecutionError).
func (r *Run) Get(ctx context.Context, valuePtr any) error {
	return r.c.client.GetWorkflow(ctx, r.WorkflowID, r.RunID).Get(ctx, valuePtr)
}

// Trigger starts a run of task with payload, or returns the run that already
// holds the key (Cached). See the package doc for the rules.
//
// Errors: invalid input (idempotency.ErrInvalidTaskID, ErrEmptyKey,
// ErrKeyTooLong, ErrInvalidKey, ErrInvalidScope, ErrInvalidTTL,
// ErrPayloadNotSerializable) with nothing started;
// ErrKeyReusedWithDifferentPayload in strict mode; ErrServerUnreachable; or
// the server's error.
func (c *Client) Trigger(ctx context.Context, task string, payload any, opts TriggerOptions) (*Run, error) {
	ctx, cancel := c.rpcContext(ctx)
	defer cancel()
	run, outcome, err := c.trigger(ctx, task, payload, opts)
	c.count(task, outcome)
	if err != nil {
		return run, fmt.Errorf("trigger %s: %w", task, err)
	}
	return run, nil
}

// TriggerAndWait triggers task and waits for the run's result, decoded into
// resultPtr (nil to discard it). A cached run's result is returned as is.
//
// Errors: those of Trigger, and the run's failure.
func (c *Client) TriggerAndWait(ctx context.Context, task string, payload any, resultPtr any, opts TriggerOptions) (*Run, error) {
	run, err := c.Trigger(ctx, task, payload, opts)
	if err != nil {
		return run, err
	}
	if err := run.Get(ctx, resultPtr); err != nil {
		return run, fmt.Errorf("task %s run %s: %w", task, run.WorkflowID, err)
	}
	return run, nil
}

// prepared is a validated trigger, ready to start.
type prepared struct {
	task     string
	key      idempotency.Key
	keyText  string
	scope    idempotency.Scope
	ttl      time.Duration
	hash     string // strict mode payload hash
	strict   bool
	req      *workflowservice.StartWorkflowExecutionRequest
	newReqID requestID
}

// prepare validates input and builds the start request; it makes no RPC.
func (c *Client) prepare(ctx context.Context, task string, payload any, opts TriggerOptions) (*prepared, error) {
	if err := idempotency.ValidateTaskID(task); err != nil {
		return nil, err
	}
	p := &prepared{task: task, strict: opts.Strict, ttl: opts.TTL}
	if p.ttl == 0 {
		p.ttl = c.opts.DefaultTTL
	}
	if p.ttl < 0 {
		return nil, fmt.Errorf("TTL %v: %w", opts.TTL, idempotency.ErrInvalidTTL)
	}
	rc, inTask := idempotency.RunContextFrom(ctx)
	scope, err := idempotency.ParseScope(string(opts.Scope))
	if err != nil {
		return nil, err
	}
	if scope == "" {
		scope = idempotency.ScopeRun
	}
	if !inTask {
		scope = idempotency.ScopeGlobal // no run context: every scope adds nothing
	}
	p.scope = scope
	var workflowID string
	switch {
	case opts.Key != nil:
		if p.key, err = idempotency.Resolve(opts.Key, scope, rc); err != nil {
			return nil, err
		}
		p.keyText = idempotency.Text(opts.Key)
	case inTask && activity.IsActivity(ctx):
		// An activity retry must find the run its earlier attempt started.
		id := activity.GetInfo(ctx).ActivityID
		if p.key, err = idempotency.Derive(rc, scope, "once-activity", id, task); err != nil {
			return nil, err
		}
		p.keyText = "once-activity-" + id + "-" + task
	}
	if p.key != "" {
		if workflowID, err = idempotency.WorkflowID(c.opts.Environment, task, p.key); err != nil {
			return nil, err
		}
	} else {
		workflowID = c.opts.Environment + "/" + task + "/" + uuid.NewString()
	}

	var input *commonpb.Payloads
	if payload != nil {
		if input, err = c.payloads(payload); err != nil {
			return nil, fmt.Errorf("encode payload: %v: %w", err, idempotency.ErrPayloadNotSerializable)
		}
	}
	if p.strict && p.key != "" {
		h, err := idempotency.PayloadHash(payload)
		if err != nil {
			return nil, err
		}
		p.hash = string(h)
	}

	cfg := c.opts.Tasks[task]
	retry := cfg.RetryPolicy
	if opts.RetryPolicy != nil {
		retry = opts.RetryPolicy
	}
	memo, err := c.memo(p, opts.Memo)
	if err != nil {
		return nil, err
	}
	p.newReqID = requestID{kind: kindNew, ttl: p.ttl, hash: p.hash, suffix: uuid.NewString()}
	reuse := enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
	if opts.RetryFailed {
		reuse = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	}
	p.req = &workflowservice.StartWorkflowExecutionRequest{
		Namespace:                c.opts.Namespace,
		WorkflowId:               workflowID,
		WorkflowType:             &commonpb.WorkflowType{Name: task},
		TaskQueue:                &taskqueuepb.TaskQueue{Name: c.taskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:                    input,
		WorkflowExecutionTimeout: durationOrNil(firstNonZero(opts.ExecutionTimeout, cfg.ExecutionTimeout)),
		WorkflowRunTimeout:       durationOrNil(firstNonZero(opts.RunTimeout, cfg.RunTimeout)),
		WorkflowTaskTimeout:      durationOrNil(firstNonZero(opts.TaskTimeout, cfg.TaskTimeout)),
		WorkflowStartDelay:       durationOrNil(opts.StartDelay),
		Identity:                 c.opts.Identity,
		RequestId:                p.newReqID.String(),
		WorkflowIdReusePolicy:    reuse,
		WorkflowIdConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		RetryPolicy:              retryPolicyToProto(retry),
		Memo:                     memo,
	}
	return p, nil
}

// memo builds the run's memo: the caller's entries, then Once's.
func (c *Client) memo(p *prepared, extra map[string]any) (*commonpb.Memo, error) {
	fields := make(map[string]*commonpb.Payload, len(extra)+6)
	put := func(k string, v any) error {
		pl, err := c.opts.DataConverter.ToPayload(v)
		if err != nil {
			return fmt.Errorf("encode memo %q: %w", k, err)
		}
		fields[k] = pl
		return nil
	}
	for k, v := range extra {
		if err := put(k, v); err != nil {
			return nil, err
		}
	}
	type entry struct {
		k string
		v any
	}
	entries := []entry{{once.MemoTask, p.task}, {once.MemoEnvironment, c.opts.Environment}}
	if p.key != "" {
		entries = append(entries,
			entry{once.MemoKeyText, p.keyText},
			entry{once.MemoKeyScope, string(p.scope)},
			entry{once.MemoExpiresAt, c.opts.Now().Add(p.ttl).UTC().Format(time.RFC3339)})
		if p.hash != "" {
			entries = append(entries, entry{once.MemoPayloadHash, p.hash})
		}
	}
	for _, e := range entries {
		if err := put(e.k, e.v); err != nil {
			return nil, err
		}
	}
	return &commonpb.Memo{Fields: fields}, nil
}

// searchAttributes are Once's, for a namespace that has them.
func (c *Client) searchAttributes(p *prepared) (*commonpb.SearchAttributes, error) {
	fields := map[string]*commonpb.Payload{}
	values := map[string]string{once.SearchAttrTask: p.task, once.SearchAttrEnvironment: c.opts.Environment}
	if p.key != "" {
		values[once.SearchAttrKey] = string(p.key)
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

// maxReplaceRounds bounds the start attempts of one trigger: a key whose run
// keeps being replaced by others under our feet is an error, not a loop.
const maxReplaceRounds = 8

// trigger runs the decision loop; outcome is for metrics.
func (c *Client) trigger(ctx context.Context, task string, payload any, opts TriggerOptions) (*Run, string, error) {
	p, err := c.prepare(ctx, task, payload, opts)
	if err != nil {
		return nil, once.OutcomeFailed, err
	}
	retention, hasSA, err := c.namespaceInfo(ctx)
	if err != nil {
		return nil, once.OutcomeFailed, err
	}
	if p.key != "" {
		c.warnTTL(p.ttl, retention)
	}
	if hasSA {
		if p.req.SearchAttributes, err = c.searchAttributes(p); err != nil {
			return nil, once.OutcomeFailed, err
		}
	}
	outcome := once.OutcomeStarted
	for round := 0; round < maxReplaceRounds; round++ {
		rctx, cancel := c.rpcContext(ctx)
		resp, err := c.svc.StartWorkflowExecution(rctx, p.req)
		cancel()
		if err == nil {
			first := resp.GetFirstExecutionRunId()
			if first == "" {
				first = resp.GetRunId()
			}
			return c.run(p, first, false), outcome, nil
		}
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if p.key == "" || !errors.As(err, &already) {
			return nil, once.OutcomeFailed, rpcError(ctx, err)
		}
		current, err := c.judge(ctx, p, already)
		if err != nil {
			return nil, once.OutcomeFailed, err
		}
		if current.cached {
			if p.strict {
				if err := c.checkPayload(ctx, p, current); err != nil {
					return c.run(p, current.firstRunID, true), once.OutcomeFailed, err
				}
			}
			return c.run(p, current.firstRunID, true), once.OutcomeCached, nil
		}
		// Replace the current run: expired or a reset marker.
		if current.openMarker {
			if err := c.terminate(ctx, p.req.WorkflowId, current.runID, "once: key reset"); err != nil {
				return nil, once.OutcomeFailed, err
			}
		}
		p.req.WorkflowIdReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
		p.req.RequestId = requestID{kind: kindReplace, ttl: p.ttl, hash: p.hash, suffix: current.runID}.String()
		outcome = once.OutcomeRestarted
	}
	return nil, once.OutcomeFailed, fmt.Errorf("workflow %s: its run was replaced %d times while triggering; try again", p.req.WorkflowId, maxReplaceRounds)
}

func (c *Client) run(p *prepared, runID string, cached bool) *Run {
	return &Run{Task: p.task, WorkflowID: p.req.WorkflowId, RunID: runID, Key: p.key, Cached: cached, c: c}
}

// current is the judgement of the run that holds a workflow ID.
type current struct {
	runID      string // the current run
	firstRunID string // its chain's first run
	cached     bool   // answer with it
	openMarker bool   // a reset marker that may still be open
	reqID      requestID
	parsed     bool
}

// judge decides whether the run named by a duplicate-start error answers for
// the key (cached) or must be replaced (expired or reset).
func (c *Client) judge(ctx context.Context, p *prepared, already *serviceerror.WorkflowExecutionAlreadyStarted) (current, error) {
	cur := current{runID: already.RunId, firstRunID: already.FirstExecutionRunId}
	if cur.firstRunID == "" {
		cur.firstRunID = cur.runID
	}
	cur.reqID, cur.parsed = parseRequestID(already.StartRequestId)
	if cur.parsed && cur.reqID.kind == kindMarker {
		cur.openMarker = true
		return cur, nil
	}
	if cur.parsed && cur.firstRunID == cur.runID {
		if created, ok := runIDTime(cur.firstRunID); ok {
			if c.opts.Now().Before(created.Add(cur.reqID.ttl)) {
				cur.cached = true
				return cur, nil
			}
			// Expired by age: replace it only once it has closed.
			desc, err := c.describe(ctx, p.req.WorkflowId, cur.runID)
			if err != nil {
				return cur, err
			}
			cur.cached = desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			return cur, nil
		}
	}
	// A run whose request ID or run ID does not tell us enough (started by
	// someone else, a retry or continue-as-new run, an older server): read
	// its memo.
	desc, err := c.describe(ctx, p.req.WorkflowId, cur.runID)
	if err != nil {
		return cur, err
	}
	info := desc.GetWorkflowExecutionInfo()
	if first := info.GetFirstRunId(); first != "" {
		cur.firstRunID = first
	}
	m := c.decodeMemo(info.GetMemo())
	if m.reset {
		cur.openMarker = info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
		return cur, nil
	}
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || m.expiresAt.IsZero() {
		cur.cached = true
		return cur, nil
	}
	cur.cached = c.opts.Now().Before(m.expiresAt)
	return cur, nil
}

// checkPayload compares this trigger's payload hash with the original run's.
func (c *Client) checkPayload(ctx context.Context, p *prepared, cur current) error {
	orig := ""
	if cur.parsed {
		orig = cur.reqID.hash
	}
	if orig == "" {
		var err error
		if orig, err = c.originalPayloadHash(ctx, p.req.WorkflowId, cur.firstRunID); err != nil {
			return err
		}
	}
	if orig != p.hash {
		return fmt.Errorf("workflow %s: %w", p.req.WorkflowId, ErrKeyReusedWithDifferentPayload)
	}
	return nil
}

func durationOrNil(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
}

func firstNonZero(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d != 0 {
			return d
		}
	}
	return 0
}

// retryPolicyToProto converts an SDK retry policy to its wire form.
func retryPolicyToProto(rp *temporal.RetryPolicy) *commonpb.RetryPolicy {
	if rp == nil {
		return nil
	}
	return &commonpb.RetryPolicy{
		InitialInterval:        durationOrNil(rp.InitialInterval),
		BackoffCoefficient:     rp.BackoffCoefficient,
		MaximumInterval:        durationOrNil(rp.MaximumInterval),
		MaximumAttempts:        rp.MaximumAttempts,
		NonRetryableErrorTypes: rp.NonRetryableErrorTypes,
	}
}
