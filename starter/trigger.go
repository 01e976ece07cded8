package starter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// TriggerOptions configures one trigger. The zero value triggers without a
// key: a new run every time (outside a task).
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

	// Strict makes a cached hit whose payload differs from the original
	// run's payload an error (ErrKeyReusedWithDifferentPayload). Payloads
	// are compared in canonical JSON, so field order does not matter.
	// Optional: defaults to false.
	Strict bool

	// RetryPolicy overrides the task's (Options.Tasks). Optional.
	RetryPolicy *temporal.RetryPolicy
	// ExecutionTimeout, RunTimeout and TaskTimeout override the task's.
	// Optional: 0 keeps the task's; negative is an error
	// (ErrNegativeDuration).
	ExecutionTimeout, RunTimeout, TaskTimeout time.Duration
	// StartDelay delays the first workflow task. Optional: defaults to none;
	// negative is an error (ErrNegativeDuration).
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
// to discard it).
//
// Errors: the run's failure (a *temporal.WorkflowExecutionError); ctx's
// error (errors.Is(err, context.DeadlineExceeded) or context.Canceled) when
// the caller gave up first.
func (r *Run) Get(ctx context.Context, valuePtr any) error {
	return ctxError(ctx, r.c.client.GetWorkflow(ctx, r.WorkflowID, r.RunID).Get(ctx, valuePtr))
}

// Trigger starts a run of task with payload, or returns the run that already
// holds the key (Cached). See the package doc for the rules.
//
// Errors: invalid input, all matching once.ErrInvalidInput
// (idempotency.ErrInvalidTaskID, ErrEmptyKey, ErrKeyTooLong, ErrInvalidKey,
// ErrInvalidScope, ErrInvalidTTL, ErrGlobalScopeNeedsKey,
// ErrPayloadNotSerializable; ErrPayloadTooLarge, ErrNegativeDuration) with
// nothing started; ErrKeyReusedWithDifferentPayload in strict mode (with the
// run); ErrServerUnreachable; ctx's error (errors.Is(err,
// context.DeadlineExceeded) or context.Canceled); or the server's error.
func (c *Client) Trigger(ctx context.Context, task string, payload any, opts TriggerOptions) (*Run, error) {
	return c.triggerOne(ctx, task, payload, opts, nil)
}

// triggerOne is Trigger, with the key already resolved when tk is not nil.
func (c *Client) triggerOne(ctx context.Context, task string, payload any, opts TriggerOptions, tk *idempotency.TriggerKey) (*Run, error) {
	ctx, cancel := c.rpcContext(ctx)
	defer cancel()
	ctx, done := c.observe(ctx, task)
	run, outcome, err := c.trigger(ctx, task, payload, opts, tk)
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

// prepared is a validated trigger, ready to start.
type prepared struct {
	task        string
	key         idempotency.TriggerKey
	ttl         time.Duration
	strict      bool
	retryFailed bool
	payload     any
	hash        string // payload hash in strict mode, else ""
	extraMemo   map[string]any
	req         *workflowservice.StartWorkflowExecutionRequest
}

// prepare validates the input and builds the start request of a new key; it
// makes no RPC. tk is the resolved key, or nil to resolve it here.
func (c *Client) prepare(ctx context.Context, task string, payload any, opts TriggerOptions, tk *idempotency.TriggerKey) (*prepared, error) {
	if err := idempotency.ValidateTaskID(task); err != nil {
		return nil, err
	}
	if err := validateDurations(opts); err != nil {
		return nil, err
	}
	p := &prepared{task: task, ttl: opts.TTL, strict: opts.Strict, retryFailed: opts.RetryFailed, payload: payload, extraMemo: opts.Memo}
	if p.ttl == 0 {
		p.ttl = c.opts.DefaultTTL
	}
	if p.ttl < 0 {
		return nil, fmt.Errorf("TTL %v: %w", opts.TTL, idempotency.ErrInvalidTTL)
	}
	input, err := c.encodeInput(payload)
	if err != nil {
		return nil, err
	}
	if tk == nil {
		k, err := c.resolveKey(ctx, task, opts.Key, opts.Scope)
		if err != nil {
			return nil, err
		}
		tk = &k
	}
	p.key = *tk
	workflowID := c.opts.Environment + "/" + task + "/" + uuid.NewString()
	if p.key.Key != "" {
		if workflowID, err = idempotency.WorkflowID(c.opts.Environment, task, p.key.Key); err != nil {
			return nil, err
		}
		if p.strict {
			h, err := idempotency.PayloadHash(payload)
			if err != nil {
				return nil, err
			}
			p.hash = string(h)
		}
	}
	memo, err := c.memo(p, time.Time{}, "") // TTL and hash: in the request ID
	if err != nil {
		return nil, err
	}
	p.req = c.startRequest(workflowID, task, input, c.startConfig(task, opts), opts.StartDelay, memo)
	p.req.RequestId = requestID{kind: kindNew, ttl: p.ttl, hash: p.hash, suffix: uuid.NewString()}.String()
	return p, nil
}

// validateDurations refuses negative durations in opts.
func validateDurations(opts TriggerOptions) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"StartDelay", opts.StartDelay},
		{"ExecutionTimeout", opts.ExecutionTimeout},
		{"RunTimeout", opts.RunTimeout},
		{"TaskTimeout", opts.TaskTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s %v: %w", d.name, d.v, ErrNegativeDuration)
		}
	}
	return nil
}

// activityKeyPrefix starts the key text of unkeyed triggers from activities.
const activityKeyPrefix = "once-activity"

// resolveKey resolves the key of a trigger (idempotency.ResolveTrigger).
// From an activity of a task, an unkeyed trigger is keyed by its call: the
// activity ID, the task and the ordinal of this unkeyed trigger of the task
// in the activity attempt (idempotency.NextCallOrdinal), scoped to the run.
func (c *Client) resolveKey(ctx context.Context, task string, key idempotency.Input, scope idempotency.Scope) (idempotency.TriggerKey, error) {
	rc, _ := idempotency.RunContextFrom(ctx)
	var call func() ([]string, error)
	if !rc.IsZero() && activity.IsActivity(ctx) {
		call = func() ([]string, error) {
			parts := []string{activityKeyPrefix, activity.GetInfo(ctx).ActivityID, task}
			// The first call keeps the key earlier versions gave every call
			// (no ordinal), so that an attempt retried across an upgrade
			// finds the run its predecessor started.
			if n, _ := idempotency.NextCallOrdinal(ctx, task); n > 1 {
				parts = append(parts, strconv.Itoa(n))
			}
			return parts, nil
		}
	}
	return idempotency.ResolveTrigger(key, scope, rc, call)
}

// encodeInput encodes the payload (nil: no input) and checks its size
// against Options.MaxPayloadBytes.
func (c *Client) encodeInput(payload any) (*commonpb.Payloads, error) {
	if payload == nil {
		return nil, nil
	}
	input, err := c.payloads(payload)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %v: %w", err, idempotency.ErrPayloadNotSerializable)
	}
	if size := proto.Size(input); size > c.opts.MaxPayloadBytes {
		return nil, &PayloadTooLargeError{Size: size, Limit: c.opts.MaxPayloadBytes}
	}
	return input, nil
}

// startConfig is the task's configuration (Options.Tasks) with the
// trigger's overrides.
func (c *Client) startConfig(task string, opts TriggerOptions) once.TaskConfig {
	cfg := c.opts.Tasks[task]
	if opts.RetryPolicy != nil {
		cfg.RetryPolicy = opts.RetryPolicy
	}
	cfg.ExecutionTimeout = firstNonZero(opts.ExecutionTimeout, cfg.ExecutionTimeout)
	cfg.RunTimeout = firstNonZero(opts.RunTimeout, cfg.RunTimeout)
	cfg.TaskTimeout = firstNonZero(opts.TaskTimeout, cfg.TaskTimeout)
	return cfg
}

// startRequest is the start of a new key: REJECT_DUPLICATE, so that the
// server answers for an existing run with its ID and start request ID.
func (c *Client) startRequest(workflowID, task string, input *commonpb.Payloads, cfg once.TaskConfig, delay time.Duration, memo *commonpb.Memo) *workflowservice.StartWorkflowExecutionRequest {
	return &workflowservice.StartWorkflowExecutionRequest{
		Namespace:                c.opts.Namespace,
		WorkflowId:               workflowID,
		WorkflowType:             &commonpb.WorkflowType{Name: task},
		TaskQueue:                &taskqueuepb.TaskQueue{Name: c.taskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:                    input,
		WorkflowExecutionTimeout: durationOrNil(cfg.ExecutionTimeout),
		WorkflowRunTimeout:       durationOrNil(cfg.RunTimeout),
		WorkflowTaskTimeout:      durationOrNil(cfg.TaskTimeout),
		WorkflowStartDelay:       durationOrNil(delay),
		Identity:                 c.opts.Identity,
		WorkflowIdReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIdConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		RetryPolicy:              retryPolicyToProto(cfg.RetryPolicy),
		Memo:                     memo,
	}
}

// trigger starts the run of a new key, or converges on the run that answers
// for an existing one; outcome is for metrics.
func (c *Client) trigger(ctx context.Context, task string, payload any, opts TriggerOptions, tk *idempotency.TriggerKey) (*Run, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, once.OutcomeFailed, err // the caller gave up: start nothing
	}
	p, err := c.prepare(ctx, task, payload, opts, tk)
	if err != nil {
		return nil, once.OutcomeFailed, err
	}
	if p.req.Header, err = c.traceHeader(ctx); err != nil {
		return nil, once.OutcomeFailed, err
	}
	retention, hasSA, err := c.namespaceInfo(ctx)
	if err != nil {
		return nil, once.OutcomeFailed, err
	}
	if p.key.Key != "" {
		c.warnTTL(p.ttl, retention)
	}
	if hasSA {
		if p.req.SearchAttributes, err = c.searchAttributes(p); err != nil {
			return nil, once.OutcomeFailed, err
		}
	}
	if already, desc, err := c.recheck(ctx, p); err != nil {
		return nil, once.OutcomeFailed, err
	} else if already != nil {
		return c.converge(ctx, p, already, desc)
	}
	resp, err := c.start(ctx, p.req)
	if err == nil {
		return c.run(p, firstRunID(resp), false), once.OutcomeStarted, nil
	}
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if p.key.Key == "" || !errors.As(err, &already) {
		return nil, once.OutcomeFailed, rpcError(ctx, err)
	}
	return c.converge(ctx, p, already, nil)
}

// start sends one StartWorkflowExecution.
func (c *Client) start(ctx context.Context, req *workflowservice.StartWorkflowExecutionRequest) (*workflowservice.StartWorkflowExecutionResponse, error) {
	rctx, cancel := c.rpcContext(ctx)
	defer cancel()
	return c.svc.StartWorkflowExecution(rctx, req)
}

func firstRunID(resp *workflowservice.StartWorkflowExecutionResponse) string {
	if first := resp.GetFirstExecutionRunId(); first != "" {
		return first
	}
	return resp.GetRunId()
}

func (c *Client) run(p *prepared, runID string, cached bool) *Run {
	return &Run{Task: p.task, WorkflowID: p.req.WorkflowId, RunID: runID, Key: p.key.Key, Cached: cached, c: c}
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
