package starter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/plan"
	"github.com/once-run/once/internal/runctx"
)

// TriggerOptions configures one trigger. The zero value triggers without a
// key: a new run every time (outside a task).
//
// A task's retry policy and timeouts are not options of a trigger: they are
// the task's (workflows.TaskOptions, its definition on the worker), applied
// to every run of it whoever starts it. The starter sends none; the worker
// restarts a run started without them once, with them (one continue-as-new:
// one more workflow task), before the task's code runs.
type TriggerOptions struct {
	// Key makes the trigger idempotent: idempotency.Parts (hashed with
	// Scope) or an idempotency.Key (used as is). Optional: without a key, a
	// trigger from outside a task always starts a new run; from an activity
	// of a task, each call is its own run, keyed by the run, the activity
	// and the ordinal of the call (see the package doc), so that a retried
	// attempt finds the runs its earlier attempt started.
	Key idempotency.Input

	// Scope of Parts keys: run, attempt or global. Optional: defaults to
	// run inside a task (an activity whose context carries the run), which
	// is global outside any task. Global without a Key from an activity is
	// an error (idempotency.ErrGlobalScopeNeedsKey).
	Scope idempotency.Scope

	// TTL of the key, counted from the run's start; after it a closed run no
	// longer answers for the key. Optional: defaults to Options.DefaultTTL.
	// Negative is an error (idempotency.ErrInvalidTTL). When several callers
	// replace an expired run at once, the new run has the TTL of the one
	// whose start the server took first.
	TTL time.Duration

	// RetryFailed starts a new run when the key's run closed failed, timed
	// out, was canceled or terminated. Optional: defaults to false (such a
	// run is returned as a cached hit).
	RetryFailed bool

	// OnFailure overrides the task's failure policy for this trigger: what
	// the key does when its run closed without completing. FailureKeep: the
	// run answers for the key (Cached). FailureRelease (trigger.dev v4): a
	// failed, timed-out or terminated run gives the key up and the trigger
	// starts one new run; a canceled run keeps it. RetryFailed, when set,
	// releases canceled runs too. Optional: defaults to FailureDefault, the
	// task's policy as its run records it (workflows.TaskOptions.OnFailure),
	// else keep; judging a cached hit then costs one
	// DescribeWorkflowExecution unless the trigger read the run already
	// (FailureKeep costs none).
	OnFailure FailurePolicy

	// Strict makes a cached hit whose payload differs from the original
	// run's payload an error (ErrKeyReusedWithDifferentPayload). Payloads
	// are compared in canonical JSON, so field order does not matter.
	// Optional: defaults to false.
	Strict bool

	// StartDelay delays the first workflow task. Optional: defaults to none;
	// negative is an error (ErrNegativeDuration).
	StartDelay time.Duration
	// Memo adds entries to the run's memo (Once's own "once.*" entries win).
	// Optional.
	Memo map[string]any

	// Debounce makes the trigger one of a burst: the triggers of the task
	// with the same debounce key make one run (once.Debounce). The Run
	// names the burst's run before it has started: RunID is "", Cached
	// false, and Get waits for it to start, then for its result. The other
	// options must be zero (once.ErrInvalidDebounce). Optional: defaults to
	// none.
	Debounce *Debounce
}

// FailurePolicy says whether a key whose run closed without completing
// still answers for the key (TriggerOptions.OnFailure): once.FailurePolicy,
// the task's policy that a trigger may override.
type FailurePolicy = once.FailurePolicy

// Failure policies (see once.FailurePolicy).
const (
	// FailureDefault: the task's policy, as the key's run records it, else
	// FailureKeep.
	FailureDefault = once.FailureDefault
	// FailureKeep: a failed, timed-out, canceled or terminated run answers
	// for its key like a completed one, until the key expires or is reset.
	FailureKeep = once.FailureKeep
	// FailureRelease: trigger.dev v4's key lifecycle. A run that failed,
	// timed out or was terminated (trigger.dev's FAILED, CRASHED,
	// SYSTEM_FAILURE, TIMED_OUT, EXPIRED) releases its key: the next trigger
	// starts exactly one new run, however many callers find the run at once.
	// A completed or canceled run keeps it. Judging a cached hit costs one
	// DescribeWorkflowExecution, for the run's status, unless the trigger
	// read it already.
	FailureRelease = once.FailureRelease
)

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
	// Cached is true when the trigger returned an existing run. Of the
	// callers that start or replace a key's run at once, exactly one gets
	// false: the one whose start made the run (a debounced trigger: see
	// TriggerOptions.Debounce).
	Cached bool
	// ExpiresAt is when the key stops answering for the run: the effective
	// expiry, min(TTL, close time + the namespace's retention), with the
	// bound that sets it in ExpiryBound. While the run is running (a run
	// this trigger started, or found running) it is the TTL's: the
	// retention can only bring it forward once the run has closed. Zero
	// when the trigger cannot tell without another read (a cached hit whose
	// state the trigger did not read, when the retention may come before
	// the TTL: see Client.Lookup), and for an unkeyed or debounced run.
	ExpiresAt time.Time
	// ExpiryBound says which bound sets ExpiresAt: ExpiryTTL or
	// ExpiryRetention; "" when ExpiresAt is zero.
	ExpiryBound ExpiryBound

	c         *Client
	debounced *debounced // a debounced trigger's: the debouncer run that took it
}

// Get waits for the run to close and decodes its result into valuePtr (nil
// to discard it).
//
// Errors: the run's failure (a *temporal.WorkflowExecutionError); ctx's
// error (errors.Is(err, context.DeadlineExceeded) or context.Canceled) when
// the caller gave up first.
func (r *Run) Get(ctx context.Context, valuePtr any) error {
	if r.debounced != nil {
		return r.getDebounced(ctx, valuePtr)
	}
	return ctxError(ctx, r.c.client.GetWorkflow(ctx, r.WorkflowID, r.RunID).Get(ctx, valuePtr))
}

// Trigger starts a run of task with payload, or returns the run that already
// holds the key (Cached). See the package doc for the rules.
//
// Errors: invalid input, all matching once.ErrInvalidInput
// (idempotency.ErrInvalidTaskID, ErrEmptyKey, ErrKeyTooLong, ErrInvalidKey,
// ErrInvalidScope, ErrInvalidTTL, ErrGlobalScopeNeedsKey,
// ErrPayloadNotSerializable; ErrPayloadTooLarge, ErrNegativeDuration;
// ErrTTLBeyondRetention with Options.RefuseTTLBeyondRetention) with nothing
// started; ErrKeyReusedWithDifferentPayload in strict mode (with the
// run); ErrServerUnreachable; ctx's error (errors.Is(err,
// context.DeadlineExceeded) or context.Canceled); or the server's error.
func (c *Client) Trigger(ctx context.Context, task string, payload any, opts TriggerOptions) (*Run, error) {
	return c.triggerOne(ctx, task, payload, opts, nil)
}

// triggerOne is Trigger, with the trigger already planned when tr is not
// nil (a batch's item).
func (c *Client) triggerOne(ctx context.Context, task string, payload any, opts TriggerOptions, tr *plan.Trigger) (*Run, error) {
	if opts.Debounce != nil {
		return c.debounce(ctx, task, payload, opts)
	}
	ctx, cancel := c.rpcContext(ctx)
	defer cancel()
	ctx, done := c.observe(ctx, task)
	run, outcome, err := c.trigger(ctx, task, payload, opts, tr)
	if err == nil && run.Key != "" {
		c.seen.put(run.WorkflowID)
	}
	done(run, outcome, err)
	if err != nil {
		return run, fmt.Errorf("trigger %s: %w", task, err)
	}
	return run, nil
}

// TriggerAndWait triggers task and waits for the run's result, decoded into
// resultPtr (nil to discard it). A cached run's result is returned as is.
//
// Errors: those of Trigger and Run.Get.
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

// prepared is a planned trigger with its options checked, ready to start.
type prepared struct {
	plan        plan.Trigger
	ttl         time.Duration
	strict      bool
	retryFailed bool
	onFailure   FailurePolicy
	payload     any
	hash        string        // payload hash in strict mode, else ""
	retention   time.Duration // the namespace's; 0 when not known
	extraMemo   map[string]any
	start       startSpec // the start of a new key
}

// task is the trigger's task ID.
func (p *prepared) task() string { return p.plan.Task.ID() }

// key is the trigger's key; "" when it has none.
func (p *prepared) key() idempotency.Key { return p.plan.Key.Key }

// workflowID is the trigger's workflow ID.
func (p *prepared) workflowID() string { return p.plan.WorkflowID }

// prepare checks the options and the payload and builds the start of a new
// key; it makes no RPC. tr is the planned trigger, or nil to plan it here.
func (c *Client) prepare(ctx context.Context, task string, payload any, opts TriggerOptions, tr *plan.Trigger) (*prepared, error) {
	if opts.StartDelay < 0 {
		return nil, fmt.Errorf("StartDelay %v: %w", opts.StartDelay, ErrNegativeDuration)
	}
	if !opts.OnFailure.Valid() {
		return nil, fmt.Errorf("OnFailure %v: %w", opts.OnFailure, ErrInvalidFailurePolicy)
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = c.opts.DefaultTTL
	}
	if ttl < 0 {
		return nil, fmt.Errorf("TTL %v: %w", opts.TTL, idempotency.ErrInvalidTTL)
	}
	if tr == nil {
		t, err := c.task(task)
		if err != nil {
			return nil, err
		}
		planned, err := c.plan(ctx, t, opts.Key, opts.Scope)
		if err != nil {
			return nil, err
		}
		tr = &planned
	}
	p := &prepared{plan: *tr, ttl: ttl, strict: opts.Strict, retryFailed: opts.RetryFailed, onFailure: opts.OnFailure, payload: payload, extraMemo: opts.Memo}
	if p.strict && p.key() != "" {
		h, err := idempotency.PayloadHash(payload)
		if err != nil {
			return nil, err
		}
		p.hash = string(h)
	}
	if err := c.checkInput(ctx, p.workflowID(), payload); err != nil {
		return nil, err
	}
	p.start = startSpec{
		workflowID: p.workflowID(),
		task:       task,
		taskQueue:  c.taskQueue,
		payload:    payload,
		delay:      opts.StartDelay,
		memo:       c.memo(p, time.Time{}, "", ""), // TTL and hash: in the request ID
		requestID:  requestID{kind: kindNew, ttl: p.ttl, hash: p.hash, suffix: uuid.NewString()}.String(),
		policy:     enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}
	return p, nil
}

// activityKeyPrefix starts the key text of unkeyed triggers from activities.
const activityKeyPrefix = "once-activity"

// plan plans a trigger of t (plan.Task.Trigger). From an activity of a task,
// an unkeyed trigger is keyed by its call: the activity ID, the task and the
// ordinal of this unkeyed trigger of the task in the activity attempt
// (runctx.NextCallOrdinal), scoped to the run. Outside a task it is
// unkeyed: its workflow ID ends in a UUID.
func (c *Client) plan(ctx context.Context, t plan.Task, key idempotency.Input, scope idempotency.Scope) (plan.Trigger, error) {
	rc, _ := runctx.From(ctx)
	var call func() ([]string, error)
	if !rc.IsZero() && activity.IsActivity(ctx) {
		call = func() ([]string, error) {
			parts := []string{activityKeyPrefix, activity.GetInfo(ctx).ActivityID, t.ID()}
			// The first call keeps the key earlier versions gave every call
			// (no ordinal), so that an attempt retried across an upgrade
			// finds the run its predecessor started.
			if n, _ := runctx.NextCallOrdinal(ctx, t.ID()); n > 1 {
				parts = append(parts, strconv.Itoa(n))
			}
			return parts, nil
		}
	}
	return t.Trigger(key, scope, rc, call, uuid.NewString)
}

// checkInput encodes the payload as the SDK client will encode it for the
// start of workflowID (nil: no input), to refuse one the data converter
// cannot encode or that is larger than Options.MaxPayloadBytes before any
// RPC. The start encodes it again: the client's data converter, codec and
// context are the SDK's to apply; the price is an encoding.
func (c *Client) checkInput(ctx context.Context, workflowID string, payload any) error {
	if payload == nil {
		return nil
	}
	input, err := c.decoder(ctx, workflowID).ToPayloads(payload)
	if err != nil {
		return fmt.Errorf("encode payload: %v: %w", err, idempotency.ErrPayloadNotSerializable)
	}
	if size := proto.Size(input); size > c.opts.MaxPayloadBytes {
		return &PayloadTooLargeError{Size: size, Limit: c.opts.MaxPayloadBytes}
	}
	return nil
}

// startSpec is one start: of a new key, of a replacement, of a reset
// marker. Conflict policy FAIL, so that the server answers for an existing
// run with its ID and start request ID. A task's start carries no retry
// policy or timeouts: they are the task's, applied by the worker.
type startSpec struct {
	workflowID, task, taskQueue string
	payload                     any           // nil: no input
	executionTimeout            time.Duration // a reset marker's; 0 for a task's run
	delay                       time.Duration
	memo                        map[string]any
	searchAttributes            temporal.SearchAttributes
	requestID                   string
	policy                      enumspb.WorkflowIdReusePolicy
}

// start makes one start with the SDK client's ExecuteWorkflow, so that the
// client's namespace, data converter and codec, context propagators and
// interceptors apply to it (see dial.go); startInterceptor gives it
// s.requestID and the trace header in ctx. It returns the new run's ID, or
// the error of the client or the server: a
// *serviceerror.WorkflowExecutionAlreadyStarted when a run holds the
// workflow ID.
func (c *Client) start(ctx context.Context, s startSpec) (string, error) {
	rctx, cancel := c.rpcContext(ctx)
	defer cancel()
	call := &startCall{requestID: s.requestID}
	var err error
	if call.header, err = c.traceHeader(ctx); err != nil {
		return "", err
	}
	var args []any
	if s.payload != nil {
		args = []any{s.payload}
	}
	run, err := c.client.ExecuteWorkflow(context.WithValue(rctx, startCallKey{}, call), client.StartWorkflowOptions{
		ID:                                       s.workflowID,
		TaskQueue:                                s.taskQueue,
		WorkflowExecutionTimeout:                 s.executionTimeout,
		StartDelay:                               s.delay,
		WorkflowIDReusePolicy:                    s.policy,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo:                                     s.memo,
		TypedSearchAttributes:                    s.searchAttributes,
	}, s.task, args...)
	if err != nil {
		return "", err
	}
	return run.GetRunID(), nil
}

// trigger starts the run of a new key, or converges on the run that answers
// for an existing one; outcome is for metrics.
func (c *Client) trigger(ctx context.Context, task string, payload any, opts TriggerOptions, tr *plan.Trigger) (*Run, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, once.OutcomeFailed, err // the caller gave up: start nothing
	}
	p, err := c.prepare(ctx, task, payload, opts, tr)
	if err != nil {
		return nil, once.OutcomeFailed, err
	}
	retention, hasSA, err := c.namespaceInfo(ctx)
	if err != nil {
		return nil, once.OutcomeFailed, err
	}
	p.retention = retention
	if p.key() != "" {
		if err := c.checkTTL(p.ttl, retention); err != nil {
			return nil, once.OutcomeFailed, err
		}
	}
	if hasSA {
		p.start.searchAttributes = p.plan.SearchAttributes()
	}
	if already, desc, err := c.recheck(ctx, p); err != nil {
		return nil, once.OutcomeFailed, err
	} else if already != nil {
		return c.converge(ctx, p, already, desc)
	}
	runID, err := c.start(ctx, p.start)
	if err == nil {
		run := c.run(p, runID, false)
		if p.key() != "" {
			// Running: its TTL's expiry, counted from its creation.
			created, ok := runIDTime(runID)
			if !ok {
				created = c.opts.Now()
			}
			run.ExpiresAt, run.ExpiryBound = created.Add(p.ttl), ExpiryTTL
		}
		return run, once.OutcomeStarted, nil
	}
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if p.key() == "" || !errors.As(err, &already) {
		return nil, once.OutcomeFailed, rpcError(ctx, err)
	}
	return c.converge(ctx, p, already, nil)
}

func (c *Client) run(p *prepared, runID string, cached bool) *Run {
	return &Run{Task: p.task(), WorkflowID: p.workflowID(), RunID: runID, Key: p.key(), Cached: cached, c: c}
}
