package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/plan"
)

// Errors of Trigger and its variants, tested with errors.Is. Invalid keys
// return the idempotency package's errors (idempotency.ErrEmptyKey, …),
// wrapped. No child is started when one is returned.
var (
	// ErrNoEnvironment: the parent's workflow ID names no environment (it was
	// not started by Once) and the worker set no Runtime.Environment. Start
	// the parent with the starter, or register tasks with the worker package
	// (in tests: oncetest.NewEnv; in a replayer: Runtime{Environment: …}).
	ErrNoEnvironment = errors.New("workflows: the parent's environment is unknown: start it with Once, or register the task with an environment (worker.New; in tests oncetest.NewEnv)")

	// ErrNoRuntime: an unkeyed trigger in a workflow that was not registered
	// with Task.Register, so there is no counter for its ordinal key.
	// Register the task with Task.Register (worker.New does), or pass a Key.
	ErrNoRuntime = errors.New("workflows: no task runtime in the workflow context: register the task with Task.Register (worker.New does) or pass a key")
)

// DefaultAttachHeartbeatTimeout is the heartbeat timeout of the activity
// that waits for a run the parent attached to, when
// Runtime.AttachHeartbeatTimeout is zero.
const DefaultAttachHeartbeatTimeout = 30 * time.Second

// ordinalKeyPrefix starts the key text of unkeyed triggers.
const ordinalKeyPrefix = "once-ordinal"

// ChildOptions configures a trigger of a child from workflow code
// (Task.Trigger, Task.TriggerAndWait).
type ChildOptions struct {
	// Key of the child run: idempotency.Parts (hashed with Scope) or an
	// idempotency.Key (used as is; make one with CreateKey).
	// Optional: defaults to the ordinal key, from the parent's run ID, the
	// child task and the ordinal of this unkeyed trigger of that task in the
	// parent's execution.
	Key idempotency.Input

	// Scope of Parts keys and of the ordinal key: run (one child per parent
	// run), attempt (one per parent attempt) or global (shared with any
	// caller; needs a Key). Optional: defaults to idempotency.ScopeRun.
	Scope idempotency.Scope

	// Debounce makes this trigger one of a burst (once.Debounce): the
	// triggers of the task with the same debounce key, from any caller in
	// the environment, make one run. The trigger signals the burst's
	// debouncer through an activity (RuntimeActivities.SignalDebouncer:
	// workflow code cannot signal-with-start); the Handle names the run the
	// burst starts, and Get waits for the debouncer, then for that run.
	// Key and Scope must be empty: the run's key comes from the debouncer
	// (see RegisterDebouncer). Optional: defaults to none.
	Debounce *once.Debounce

	// OnFailure overrides the child task's failure policy
	// (TaskOptions.OnFailure) for this trigger: with FailureRelease, a
	// child whose workflow ID is held by a run that failed, timed out or was
	// terminated gets one new run, which this trigger waits for, instead of
	// the failed run's failure; with FailureKeep it gets the failed run.
	// The new run is started through an activity
	// (RuntimeActivities.ReleaseRun) by the starter's path, so that however
	// many parents and services find the failed run at once, one new run
	// replaces it; it is not a child of the parent. Optional: defaults to
	// once.FailureDefault, the child task's policy.
	OnFailure once.FailurePolicy
}

// Handle is a triggered run of a task with result type R.
type Handle[R any] struct {
	// TaskID is the child's task.
	TaskID string
	// WorkflowID is "<env>/<task>/<key>".
	WorkflowID string
	// RunID is the run ID of the child this call started; "" when Cached by
	// attaching (the run was started elsewhere).
	RunID string
	// Key is the child's idempotency key.
	Key idempotency.Key
	// Cached is true when this call did not start the run: an earlier
	// attempt of the parent or another caller had started it (the parent
	// attached to it), or an earlier trigger in this execution with the
	// same key.
	Cached bool

	c     *child
	again bool // an earlier trigger in this execution had the key
}

// Get waits for the run's result. It may be called more than once.
//
// Errors: *RunError when the run failed, timed out, was canceled or
// terminated; the workflow's canceled error when ctx is.
func (h *Handle[R]) Get(ctx workflow.Context) (R, error) {
	var r R
	c := h.c
	if err := c.waitStarted(ctx); err != nil {
		return r, &RunError{TaskID: h.TaskID, WorkflowID: h.WorkflowID, Err: err}
	}
	if !c.attached {
		if err := c.future.Get(ctx, &r); err != nil {
			return r, &RunError{TaskID: h.TaskID, WorkflowID: h.WorkflowID, Cached: h.Cached, Err: err}
		}
		return r, nil
	}
	if err := c.attachFuture(ctx).Get(ctx, &r); err != nil {
		return r, &RunError{TaskID: h.TaskID, WorkflowID: h.WorkflowID, Cached: c.runID == "", Err: attachCause(err)}
	}
	return r, nil
}

// RunError reports a triggered run that ended without a result.
type RunError struct {
	// TaskID and WorkflowID name the run.
	TaskID, WorkflowID string
	// Cached is true when the parent attached to a run it did not start.
	Cached bool
	// Err is the run's failure: a *temporal.ChildWorkflowExecutionError
	// when this execution started the run; when it attached, the run's own
	// failure (*temporal.ApplicationError, *temporal.CanceledError,
	// *temporal.TerminatedError, *temporal.TimeoutError) or the error of the
	// attach activity.
	Err error
}

// Error says which run failed and why.
func (e *RunError) Error() string {
	return fmt.Sprintf("task %s run %s: %v", e.TaskID, e.WorkflowID, e.Err)
}

// Unwrap returns Err.
func (e *RunError) Unwrap() error { return e.Err }

// Trigger starts a run of t as a child of the workflow (parent close policy
// ABANDON: it outlives the parent) and returns once it has started, or once
// the parent has attached to the run that already holds its workflow ID
// (Handle.Cached). See the package doc for how the key is chosen.
//
// Errors: ErrNoEnvironment, ErrNoRuntime, idempotency.ErrGlobalScopeNeedsKey, invalid
// keys (idempotency errors), a start refused for another reason than an
// existing run, the workflow's canceled error.
func (t *Task[P, R]) Trigger(ctx workflow.Context, payload P, opts ChildOptions) (*Handle[R], error) {
	h, err := t.start(ctx, payload, opts)
	if err == nil {
		err = h.waitStarted(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("trigger %s: %w", t.id, err)
	}
	return h, nil
}

// TriggerAndWait is Trigger, then Handle.Get: it returns the child's result,
// whether this call started the child or attached to an existing run.
//
// Errors: those of Trigger and of Handle.Get.
func (t *Task[P, R]) TriggerAndWait(ctx workflow.Context, payload P, opts ChildOptions) (R, error) {
	h, err := t.Trigger(ctx, payload, opts)
	if err != nil {
		var zero R
		return zero, err
	}
	return h.Get(ctx)
}

// ChildItem is one child trigger of a batch (Task.BatchTrigger).
type ChildItem[P any] struct {
	// Payload of the run.
	Payload P
	// Options of this item. Without Options.Key the item's key is derived
	// from the batch key and the item's index, or, without a batch key, is
	// the ordinal key (ordinals are given in item order).
	Options ChildOptions
}

// ChildBatchOptions configures a batch of child triggers.
type ChildBatchOptions struct {
	// BatchKey gives every item without a key the key hash(batch key,
	// index), as the starter does. Optional: without it such items get
	// ordinal keys.
	BatchKey idempotency.Input
	// Scope of a Parts batch key. Optional: defaults to idempotency.ScopeRun.
	Scope idempotency.Scope
}

// BatchHandle is the outcome of one item of BatchTrigger.
type BatchHandle[R any] struct {
	// Handle is the item's run; nil when Err is set.
	Handle *Handle[R]
	// Err is the item's error; the other items are not affected by it.
	Err error
}

// ChildResult is the outcome of one item of Task.BatchTriggerAndWait.
type ChildResult[R any] struct {
	// Handle is the item's run; nil when it could not be triggered.
	Handle *Handle[R]
	// Value is the run's result when Err is nil.
	Value R
	// Err is the item's trigger error or the run's *RunError.
	Err error
}

// BatchTrigger triggers t once per item: all children are started at once,
// and the results come back in input order, one per item. Two items with
// the same key map to the same run (the later one Cached).
//
// Errors: only for the batch as a whole (an invalid batch key), with nothing
// started; item errors are in the results.
func (t *Task[P, R]) BatchTrigger(ctx workflow.Context, items []ChildItem[P], opts ChildBatchOptions) ([]BatchHandle[R], error) {
	handles, errs, err := t.startBatch(ctx, items, opts)
	if err != nil {
		return nil, err
	}
	out := make([]BatchHandle[R], len(items))
	for i, h := range handles {
		if errs[i] == nil {
			errs[i] = h.waitStarted(ctx)
		}
		if errs[i] != nil {
			out[i].Err = fmt.Errorf("trigger %s item %d: %w", t.id, i, errs[i])
			continue
		}
		out[i].Handle = h
	}
	return out, nil
}

// BatchTriggerAndWait is BatchTrigger, then waits for every run. The runs
// proceed in parallel; results come back in input order.
//
// Errors: as BatchTrigger.
func (t *Task[P, R]) BatchTriggerAndWait(ctx workflow.Context, items []ChildItem[P], opts ChildBatchOptions) ([]ChildResult[R], error) {
	handles, err := t.BatchTrigger(ctx, items, opts)
	if err != nil {
		return nil, err
	}
	// Schedule every attach before waiting on any, so they wait in parallel.
	for _, bh := range handles {
		if bh.Handle != nil && bh.Handle.c.attached {
			bh.Handle.c.attachFuture(ctx)
		}
	}
	out := make([]ChildResult[R], len(items))
	for i, bh := range handles {
		out[i].Handle, out[i].Err = bh.Handle, bh.Err
		if bh.Err == nil {
			out[i].Value, out[i].Err = bh.Handle.Get(ctx)
		}
	}
	return out, nil
}

func (t *Task[P, R]) startBatch(ctx workflow.Context, items []ChildItem[P], opts ChildBatchOptions) ([]*Handle[R], []error, error) {
	var batchKey idempotency.Key
	if opts.BatchKey != nil {
		pt, rc, err := t.planned(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("batch trigger %s: %w", t.id, err)
		}
		bk, err := pt.Key(opts.BatchKey, opts.Scope, rc)
		if err != nil {
			return nil, nil, fmt.Errorf("batch trigger %s: batch key: %w", t.id, err)
		}
		batchKey = bk.Key.Key
	}
	handles := make([]*Handle[R], len(items))
	errs := make([]error, len(items))
	for i, item := range items {
		o := item.Options
		if o.Key == nil && batchKey != "" {
			k, err := idempotency.BatchItemKey(batchKey, i)
			if err != nil {
				errs[i] = err
				continue
			}
			o.Key = k
		}
		handles[i], errs[i] = t.start(ctx, item.Payload, o)
	}
	return handles, errs, nil
}

// start resolves the child's workflow ID and issues the start command (or
// finds the child this execution already started with that ID). It does not
// block.
func (t *Task[P, R]) start(ctx workflow.Context, payload P, opts ChildOptions) (*Handle[R], error) {
	if opts.Debounce != nil {
		if opts.OnFailure != once.FailureDefault {
			return nil, fmt.Errorf("debounce: a debounced trigger takes no OnFailure: %w", once.ErrInvalidDebounce)
		}
		return t.startDebounced(ctx, payload, opts)
	}
	if !opts.OnFailure.Valid() {
		return nil, fmt.Errorf("OnFailure %v: %w", opts.OnFailure, once.ErrInvalidFailurePolicy)
	}
	st := runtimeFrom(ctx)
	pt, rc, err := t.planned(ctx)
	if err != nil {
		return nil, err
	}
	tr, err := pt.Trigger(opts.Key, opts.Scope, rc, func() ([]string, error) {
		if st == nil {
			return nil, ErrNoRuntime
		}
		st.ordinals[t.id]++
		return []string{ordinalKeyPrefix, t.id, strconv.Itoa(st.ordinals[t.id])}, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	env, id, key := pt.Env(), tr.WorkflowID, tr.Key.Key
	h := &Handle[R]{TaskID: t.id, WorkflowID: id, Key: key}
	if st != nil {
		if c, ok := st.children[id]; ok {
			h.c, h.Cached, h.again = c, true, true
			return h, nil
		}
	}
	cwo := workflow.ChildWorkflowOptions{
		WorkflowID:               id,
		TaskQueue:                workflow.GetInfo(ctx).TaskQueueName,
		WorkflowExecutionTimeout: t.opts.ExecutionTimeout,
		WorkflowRunTimeout:       t.opts.RunTimeout,
		WorkflowTaskTimeout:      t.opts.TaskTimeout,
		RetryPolicy:              t.opts.clone().RetryPolicy,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		ParentClosePolicy:        enums.PARENT_CLOSE_POLICY_ABANDON,
		// Task, environment and key are in the workflow ID and type; the
		// memo holds the text of a key the task gave, for the Web UI (none
		// for an unkeyed child). A child's key does not expire: it holds
		// until retention.
		Memo: childMemo(tr),
	}
	if st != nil && st.rt.SearchAttributes {
		cwo.TypedSearchAttributes = tr.SearchAttributes()
	}
	c := &child{
		workflowID: id,
		task:       t.id,
		env:        env,
		issued:     workflow.Now(ctx),
		future:     workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, cwo), t.id, payload),
		heartbeat:  DefaultAttachHeartbeatTimeout,
	}
	if t.releases(opts.OnFailure) {
		c.release = &releaseCall{key: key, payload: payload}
	}
	if st != nil {
		st.children[id] = c
		if st.rt.AttachHeartbeatTimeout > 0 {
			c.heartbeat = st.rt.AttachHeartbeatTimeout
		}
	}
	h.c = c
	return h, nil
}

// planned is the plan of t in the environment of the run of ctx, and that
// run's context: the environment is the one in the run's workflow ID, else
// Runtime.Environment. The plan is made once per execution and task.
//
// Errors: ErrNoEnvironment; an invalid environment
// (idempotency.ErrInvalidEnvironment).
func (t *Task[P, R]) planned(ctx workflow.Context) (plan.Task, idempotency.RunContext, error) {
	st := runtimeFrom(ctx)
	rc := RunContext(ctx)
	if st != nil {
		if pt, ok := st.tasks[t.id]; ok {
			return pt, rc, nil
		}
	}
	env := rc.Environment
	if env == "" && st != nil {
		env = st.rt.Environment
	}
	if env == "" {
		return plan.Task{}, rc, ErrNoEnvironment
	}
	e, err := plan.NewEnv(env)
	if err != nil {
		return plan.Task{}, rc, err
	}
	pt, err := e.Task(t.id)
	if err != nil {
		return plan.Task{}, rc, err
	}
	if st != nil {
		st.tasks[t.id] = pt
	}
	return pt, rc, nil
}

// childMemo is the memo of a child: Once's entries of tr (plan.Trigger.Memo),
// nil when there are none.
func childMemo(tr plan.Trigger) map[string]any {
	if m := tr.Memo(); m != (idempotency.Memo{}) {
		return m.Fields()
	}
	return nil
}

// waitStarted waits until the child has started or the parent has attached,
// and fills in RunID and Cached.
func (h *Handle[R]) waitStarted(ctx workflow.Context) error {
	if err := h.c.waitStarted(ctx); err != nil {
		return err
	}
	if dc := h.c.debounce; dc != nil {
		h.WorkflowID, h.Key = h.c.workflowID, dc.runTrigger.Key.Key
		return nil
	}
	// An attached child is Cached, unless this call started the run that
	// replaced a failed one (ChildOptions.OnFailure): its run ID is known.
	h.RunID = h.c.runID
	h.Cached = h.again || (h.c.attached && h.c.runID == "")
	return nil
}

// child is a child run that this workflow execution started or attached to.
type child struct {
	workflowID string
	task, env  string
	issued     time.Time // workflow time of the start, for the latency
	future     workflow.ChildWorkflowFuture
	heartbeat  time.Duration

	started  bool            // the start was decided (started or attached)
	startErr error           // the start failed for another reason
	runID    string          // the run this execution started (or whose start its release activity made)
	attached bool            // the ID was taken: wait through the attach activity
	attach   workflow.Future // the attach activity, once scheduled
	debounce *debounceCall   // a debounced trigger: its run is the debouncer's
	release  *releaseCall    // the child's failure policy releases a failed run's key
}

func (c *child) waitStarted(ctx workflow.Context) error {
	if c.started || c.startErr != nil {
		return c.startErr
	}
	if c.debounce != nil {
		return c.waitSignalled(ctx)
	}
	var exec workflow.Execution
	err := c.future.GetChildWorkflowExecution().Get(ctx, &exec)
	switch {
	case err == nil:
		c.started, c.runID = true, exec.RunID
		c.count(ctx, once.OutcomeStarted)
	case isAlreadyStarted(err) && c.release != nil:
		return c.releaseFailed(ctx)
	case isAlreadyStarted(err):
		c.started, c.attached = true, true
		c.count(ctx, once.OutcomeCached)
	case ctx.Err() != nil:
		return err // not decided: a later call may still wait
	default:
		c.startErr = err
		c.count(ctx, once.OutcomeFailed)
	}
	return c.startErr
}

// count adds one to the trigger counter and records the trigger's latency
// (once.MetricTriggers and once.MetricTriggerLatency, as the starter's)
// through the workflow's metrics handler, which skips replays. The latency
// is in workflow time: from the workflow task that started the child to the
// one that learned the outcome.
func (c *child) count(ctx workflow.Context, outcome string) {
	h := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
		once.TagTask: c.task, once.TagEnvironment: c.env, once.TagOutcome: outcome,
	})
	h.Counter(once.MetricTriggers).Inc(1)
	h.Timer(once.MetricTriggerLatency).Record(workflow.Now(ctx).Sub(c.issued))
}

// attachFuture schedules the activity that waits for the existing run's
// result, once per child.
func (c *child) attachFuture(ctx workflow.Context) workflow.Future {
	if c.attach == nil {
		var acts *RuntimeActivities
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 24 * time.Hour,
			HeartbeatTimeout:    c.heartbeat,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval:    time.Second,
				BackoffCoefficient: 2,
				MaximumInterval:    30 * time.Second,
				NonRetryableErrorTypes: []string{
					ErrTypeRunFailed,
					ErrTypeRunNotFound,
					ErrTypeMisconfigured,
				},
			},
		})
		if c.debounce != nil {
			c.attach = c.debouncedResult(ctx, actx)
		} else if c.release != nil {
			c.attach = workflow.ExecuteActivity(actx, acts.AttachRun, AttachInput{WorkflowID: c.workflowID, RunID: c.release.runID})
		} else {
			c.attach = workflow.ExecuteActivity(actx, acts.AttachRun, AttachInput{WorkflowID: c.workflowID})
		}
	}
	return c.attach
}

// isAlreadyStarted reports a start refused because the workflow ID is taken:
// the server's answer (ChildWorkflowExecutionAlreadyStartedError) or the
// test suite's (serviceerror.WorkflowExecutionAlreadyStarted).
func isAlreadyStarted(err error) bool {
	var childErr *temporal.ChildWorkflowExecutionAlreadyStartedError
	var svcErr *serviceerror.WorkflowExecutionAlreadyStarted
	return errors.As(err, &childErr) || errors.As(err, &svcErr)
}

// attachCause unwraps the attach activity's error to the run's own failure
// when the activity reported one.
func attachCause(err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeRunFailed {
		if cause := errors.Unwrap(appErr); cause != nil {
			return cause
		}
	}
	return err
}

// runtimeState is the task runtime of one workflow execution.
type runtimeState struct {
	rt       Runtime
	tasks    map[string]plan.Task // child task → its plan in this run's environment
	ordinals map[string]int       // child task → unkeyed triggers so far
	children map[string]*child    // workflow ID → child of this execution
}

type runtimeKey struct{}

func withRuntime(ctx workflow.Context, rt Runtime) workflow.Context {
	return workflow.WithValue(ctx, runtimeKey{}, &runtimeState{
		rt:       rt,
		tasks:    map[string]plan.Task{},
		ordinals: map[string]int{},
		children: map[string]*child{},
	})
}

func runtimeFrom(ctx workflow.Context) *runtimeState {
	st, _ := ctx.Value(runtimeKey{}).(*runtimeState)
	return st
}
