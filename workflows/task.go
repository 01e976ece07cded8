package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// TaskOptions configures a task: its retry policy, timeouts and failure
// policy. They are the task's, applied to every run of it whoever starts it
// — a child trigger, the starter, the CLI, a plain SDK client: a run started
// without them is restarted with them by the worker (see Task).
type TaskOptions struct {
	// RetryPolicy is the task's retry policy, the SDK's: retries are
	// attempts of the same run (the workflow's retry policy), so the run's
	// stable ID (FirstRunID, and with it every run-scoped key) stays while
	// workflow.GetInfo(ctx).Attempt grows. MaximumAttempts keeps Temporal's
	// meaning: the most attempts, the first included; 1 means no retry, 0
	// means unlimited (bound the run with ExecutionTimeout then). NewTask
	// fills in InitialInterval (1s), BackoffCoefficient (2) and
	// MaximumInterval (100 × InitialInterval) when they are zero, as the
	// server does. NonRetryableErrorTypes lists temporal.ApplicationError
	// types that end the run without another attempt (a non-retryable
	// ApplicationError never retries anyway). Optional: defaults to nil,
	// one attempt per run.
	RetryPolicy *temporal.RetryPolicy

	// ExecutionTimeout bounds a whole run, retries included, in the runs
	// that start with it: children of a task. A run started without it (by
	// the starter, the CLI, a plain SDK client) cannot get it afterwards —
	// a continue-as-new keeps the chain's — so the worker's restart gives
	// each of its attempts that bound instead, as its run timeout (unless
	// RunTimeout is set). Optional: defaults to unlimited.
	ExecutionTimeout time.Duration

	// RunTimeout bounds one attempt. Optional: defaults to ExecutionTimeout.
	RunTimeout time.Duration

	// TaskTimeout bounds one workflow task (a worker that dies holding one is
	// noticed after it). Optional: defaults to the server's 10s.
	TaskTimeout time.Duration

	// OnFailure is the task's failure policy (once.FailurePolicy): whether
	// the key of a run that failed, timed out or was terminated still
	// answers for the key (once.FailureKeep) or is released, so that the
	// next trigger starts one new run (once.FailureRelease, trigger.dev v4);
	// a completed or canceled run keeps its key either way. A trigger may
	// override it (starter.TriggerOptions.OnFailure, ChildOptions.OnFailure).
	// The starter does not know task definitions: the task's runtime records
	// FailureRelease in the memo of each run of the task
	// (once.MemoOnFailure), in its first workflow task, and triggers read it
	// there. A run that closes before any workflow task of it ran (terminated
	// or timed out before a worker took it) records nothing and keeps its
	// key. Optional: defaults to once.FailureDefault, which is keep.
	OnFailure once.FailurePolicy
}

// clone returns a copy of o that shares no memory with it.
func (o TaskOptions) clone() TaskOptions {
	if o.RetryPolicy != nil {
		rp := *o.RetryPolicy
		rp.NonRetryableErrorTypes = slices.Clone(rp.NonRetryableErrorTypes)
		o.RetryPolicy = &rp
	}
	return o
}

// Runtime is what the worker tells the tasks it registers.
type Runtime struct {
	// Environment the worker serves. Children of a parent whose workflow ID
	// does not name an environment (not started by Once) run in it.
	// Optional: defaults to "", and such a parent cannot trigger tasks.
	Environment string

	// SearchAttributes sets Once's custom search attributes
	// (once.SearchAttributes()) on children. Set it only when the namespace
	// has them: on one without them every child start fails.
	// Optional: defaults to false (the memo only; runs are found by
	// WorkflowType and WorkflowId).
	SearchAttributes bool

	// AttachHeartbeatTimeout is the heartbeat timeout of the activity that
	// waits for a run the parent attached to: how soon a dead worker's wait
	// moves to another worker. Optional: defaults to
	// DefaultAttachHeartbeatTimeout.
	AttachHeartbeatTimeout time.Duration
}

// Registry is where a task registers its workflow: an SDK worker, a
// worker.WorkflowReplayer or a testsuite.TestWorkflowEnvironment.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Definition is a task of any payload and result type, as the worker package
// registers it. *Task implements it.
type Definition interface {
	// ID is the task ID, also the workflow type name.
	ID() string
	// Options are the task's retry policy and timeouts, as every run of it
	// gets them.
	Options() TaskOptions
	// Register registers the task's workflow on r.
	Register(r Registry, rt Runtime)
}

// Task is a task with payload type P and result type R. Make one with
// NewTask, usually as a package-level variable; it is immutable and safe for
// concurrent use.
//
// Its retry policy and timeouts (TaskOptions) apply to every run of it: the
// children it is triggered as get them, and a run started without them — by
// a starter, the CLI or a plain SDK client — is restarted with them by the
// worker, once (one continue-as-new, one more workflow task), before the
// task's function runs.
type Task[P, R any] struct {
	id   string
	fn   func(workflow.Context, P) (R, error)
	opts TaskOptions // resolved: the retry policy's defaults filled in
}

var _ Definition = (*Task[struct{}, struct{}])(nil)

// NewTask defines a task: the workflow type id running fn with opts.
//
// NewTask panics, as regexp.MustCompile does, when id is not a valid task ID
// (idempotency.ValidateTaskID), fn is nil, OnFailure is not a failure
// policy, a duration, MaximumAttempts or
// BackoffCoefficient is negative, or the retry policy is one the server
// refuses (a BackoffCoefficient below 1, a MaximumInterval below
// InitialInterval): tasks are defined once, at package level, and a bad
// definition is a programming error.
func NewTask[P, R any](id string, fn func(workflow.Context, P) (R, error), opts TaskOptions) *Task[P, R] {
	if err := idempotency.ValidateTaskID(id); err != nil {
		panic(fmt.Sprintf("workflows: NewTask: %v", err))
	}
	if fn == nil {
		panic(fmt.Sprintf("workflows: NewTask %s: fn is nil", id))
	}
	if opts.ExecutionTimeout < 0 || opts.RunTimeout < 0 || opts.TaskTimeout < 0 {
		panic(fmt.Sprintf("workflows: NewTask %s: negative timeout", id))
	}
	if !opts.OnFailure.Valid() {
		panic(fmt.Sprintf("workflows: NewTask %s: OnFailure is %v: want once.FailureKeep or once.FailureRelease", id, opts.OnFailure))
	}
	opts = opts.clone()
	if rp := opts.RetryPolicy; rp != nil {
		if rp.MaximumAttempts < 0 {
			panic(fmt.Sprintf("workflows: NewTask %s: RetryPolicy.MaximumAttempts is %d: want 0 (unlimited) or more", id, rp.MaximumAttempts))
		}
		if rp.InitialInterval < 0 || rp.MaximumInterval < 0 || rp.BackoffCoefficient < 0 {
			panic(fmt.Sprintf("workflows: NewTask %s: negative retry interval or coefficient", id))
		}
		if rp.InitialInterval == 0 {
			rp.InitialInterval = time.Second
		}
		if rp.BackoffCoefficient == 0 {
			rp.BackoffCoefficient = 2
		}
		if rp.MaximumInterval == 0 {
			rp.MaximumInterval = 100 * rp.InitialInterval
		}
		if rp.BackoffCoefficient < 1 {
			panic(fmt.Sprintf("workflows: NewTask %s: RetryPolicy.BackoffCoefficient is %v: want at least 1", id, rp.BackoffCoefficient))
		}
		if rp.MaximumInterval < rp.InitialInterval {
			panic(fmt.Sprintf("workflows: NewTask %s: RetryPolicy.MaximumInterval %v is below InitialInterval %v", id, rp.MaximumInterval, rp.InitialInterval))
		}
	}
	return &Task[P, R]{id: id, fn: fn, opts: opts}
}

// ID is the task ID, also the name of its workflow type.
func (t *Task[P, R]) ID() string { return t.id }

// Options returns the task's retry policy and timeouts as every run of it
// gets them: the options it was defined with, the retry policy's defaults
// filled in. It is a copy.
func (t *Task[P, R]) Options() TaskOptions { return t.opts.clone() }

// Ref returns a reference to the task with its payload and result types,
// for services that trigger it (starter.TriggerTask); a service that should
// not import the package implementing the task declares its own with
// once.NewTaskRef.
func (t *Task[P, R]) Ref() once.TaskRef[P, R] { return once.NewTaskRef[P, R](t.id) }

// Register registers the task's workflow on r under the task ID. The
// registered function puts the task runtime (rt, and the counters of
// unkeyed triggers) into the workflow context, then calls the task's
// function.
func (t *Task[P, R]) Register(r Registry, rt Runtime) {
	var p P
	if _, isProto := any(&p).(proto.Message); isProto {
		// Protobuf payloads decode into P itself, not into taskInput.
		r.RegisterWorkflowWithOptions(func(ctx workflow.Context, payload P) (R, error) {
			if err := t.recordPolicy(ctx); err != nil {
				var zero R
				return zero, err
			}
			return t.run(ctx, rt, payload)
		}, workflow.RegisterOptions{Name: t.id})
		return
	}
	r.RegisterWorkflowWithOptions(t.workflowFunc(rt), workflow.RegisterOptions{Name: t.id})
}

// workflowFunc is the workflow function registered for the task. It takes
// the payload as a taskInput, so that a payload that does not decode into P
// fails the run with one line that says so, at once, instead of the SDK's
// decoding error, retried as often as the task's policy allows.
func (t *Task[P, R]) workflowFunc(rt Runtime) func(workflow.Context, taskInput[P]) (R, error) {
	return func(ctx workflow.Context, in taskInput[P]) (R, error) {
		if err := t.recordPolicy(ctx); err != nil {
			var zero R
			return zero, err
		}
		if in.err != nil {
			var zero R
			return zero, badPayload(t.id, in.err)
		}
		return t.run(ctx, rt, in.v)
	}
}

// run runs the task on payload: in a run started with the task's retry
// policy and timeouts, its function; in one started without them, first a
// continue-as-new that starts the run again with them (see configured).
func (t *Task[P, R]) run(ctx workflow.Context, rt Runtime, payload P) (R, error) {
	if !t.configured(workflow.GetInfo(ctx)) &&
		workflow.GetVersion(ctx, configVersionChange, workflow.DefaultVersion, 1) == 1 {
		var zero R
		return zero, t.restartConfigured(ctx, payload)
	}
	return t.fn(withRuntime(ctx, rt), payload)
}

// configVersionChange marks, in a history, that the task restarted a run
// started without its retry policy or timeouts (workflow.GetVersion): runs
// recorded before it replay as they ran.
const configVersionChange = "once.task-config"

// configured reports whether the run carries the task's retry policy and
// the run and task timeouts the task names (a timeout it leaves unset
// accepts the start's), or may not be restarted to get them: only the first
// run of a chain is restarted (a retry, or the run a restart made, never
// is). Temporal's test environment reports neither a retry policy nor a
// first run ID: there a run is taken as started (oncetest.Env.ExecuteTask
// starts tasks with their configuration).
func (t *Task[P, R]) configured(info *workflow.Info) bool {
	if info.ContinuedExecutionRunID != "" || info.Attempt > 1 || info.FirstRunID == "" {
		return true
	}
	runTimeout := t.attemptTimeout()
	return samePolicy(info.RetryPolicy, t.opts.RetryPolicy) &&
		(t.opts.TaskTimeout == 0 || info.WorkflowTaskTimeout == t.opts.TaskTimeout) &&
		(runTimeout == 0 || info.WorkflowRunTimeout == runTimeout)
}

// attemptTimeout is the run timeout a run of the task gets: RunTimeout, or
// ExecutionTimeout when the task names no RunTimeout (0: unlimited).
func (t *Task[P, R]) attemptTimeout() time.Duration {
	if t.opts.RunTimeout != 0 {
		return t.opts.RunTimeout
	}
	return t.opts.ExecutionTimeout
}

// restartConfigured continues the run as new, with the same payload, the
// task's retry policy and its run and task timeouts. The run keeps its
// workflow ID, first run ID (so its keys), memo and the headers of its
// context propagators.
func (t *Task[P, R]) restartConfigured(ctx workflow.Context, payload P) error {
	rp := t.opts.clone().RetryPolicy
	if rp == nil {
		rp = &temporal.RetryPolicy{MaximumAttempts: 1} // one attempt, whatever the start asked
	}
	ctx = workflow.WithWorkflowRunTimeout(ctx, t.attemptTimeout())
	ctx = workflow.WithWorkflowTaskTimeout(ctx, t.opts.TaskTimeout)
	return workflow.NewContinueAsNewErrorWithOptions(ctx, workflow.ContinueAsNewErrorOptions{RetryPolicy: rp}, t.id, payload)
}

// samePolicy reports whether the run's retry policy is the task's, as the
// server fills in a policy's defaults. No policy, and one attempt, are the
// same.
func samePolicy(got, want *temporal.RetryPolicy) bool {
	single := func(p *temporal.RetryPolicy) bool { return p == nil || p.MaximumAttempts == 1 }
	if single(want) || single(got) {
		return single(want) && single(got)
	}
	return got.MaximumAttempts == want.MaximumAttempts &&
		got.InitialInterval == want.InitialInterval &&
		got.BackoffCoefficient == want.BackoffCoefficient &&
		got.MaximumInterval == want.MaximumInterval &&
		slices.Equal(sortedCopy(got.NonRetryableErrorTypes), sortedCopy(want.NonRetryableErrorTypes))
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// taskInput is a task's payload as its workflow receives it: decoded into
// P, or the reason it does not decode.
type taskInput[P any] struct {
	v   P
	err error
}

// UnmarshalJSON decodes data into the payload type, keeping the error for
// the workflow to report (the SDK's JSON converter calls it).
func (in *taskInput[P]) UnmarshalJSON(data []byte) error {
	in.err = json.Unmarshal(data, &in.v)
	return nil
}

// badPayload is the failure of a run whose payload does not decode into the
// task's payload type: non-retryable, one line naming the task, and the
// field and type where JSON says so.
func badPayload(task string, err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	msg := err.Error()
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		msg = fmt.Sprintf("field %q wants %s, got %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &typeErr):
		msg = fmt.Sprintf("it wants %s, got %s", typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		msg = fmt.Sprintf("invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("task %q: the payload does not decode into the task's payload type: %s", task, msg),
		once.ErrTypeBadPayload, nil)
}

// UnknownTask is the workflow a worker runs for a workflow type on its task
// queue that none of its tasks (known, their IDs) names: register it as the
// worker's dynamic workflow. It fails the run at once, non-retryably
// (once.ErrTypeUnknownTask), so that the run does not stay open holding its
// key: unknown task "x" (this worker runs: a, b, c).
func UnknownTask(known []string) func(workflow.Context, converter.EncodedValues) error {
	list := strings.Join(slices.Sorted(slices.Values(known)), ", ")
	if list == "" {
		list = "no task"
	}
	return func(ctx workflow.Context, _ converter.EncodedValues) error {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("unknown task %q (this worker runs: %s)", workflow.GetInfo(ctx).WorkflowType.Name, list),
			once.ErrTypeUnknownTask, nil)
	}
}

// failurePolicyChange marks, in a history, that the task recorded its
// failure policy in the run's memo (workflow.GetVersion): runs recorded
// before, or while the task kept its keys, replay as they ran.
const failurePolicyChange = "once.failure-policy"

// recordPolicy writes the task's failure policy in the run's memo
// (once.MemoOnFailure), where triggers read it: only FailureRelease, as a
// run that records none keeps its key. It runs first in each run of the
// task, before its payload is decoded, so that a run with a bad payload
// records it too.
func (t *Task[P, R]) recordPolicy(ctx workflow.Context) error {
	if t.opts.OnFailure != once.FailureRelease ||
		workflow.GetVersion(ctx, failurePolicyChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	if err := workflow.UpsertMemo(ctx, idempotency.Memo{OnFailure: once.FailureRelease}.Fields()); err != nil {
		return fmt.Errorf("task %s: record the failure policy: %w", t.id, err)
	}
	return nil
}
