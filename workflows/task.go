package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// RetryOptions is a task's retry policy. Retries are attempts of the same
// run: the workflow's RetryPolicy, so FirstRunID (and with it every
// run-scoped key) stays while workflow.GetInfo(ctx).Attempt grows.
type RetryOptions struct {
	// MaxAttempts is the most attempts of a run, the first included; 1
	// means no retry. Required: at least 1.
	MaxAttempts int32

	// InitialInterval is the wait before the first retry.
	// Optional: defaults to 1s.
	InitialInterval time.Duration

	// BackoffCoefficient multiplies the wait after each retry.
	// Optional: defaults to 2.
	BackoffCoefficient float64

	// MaxInterval caps the wait between attempts.
	// Optional: defaults to 100 × InitialInterval.
	MaxInterval time.Duration

	// NonRetryableErrorTypes lists temporal.ApplicationError types that end
	// the run without another attempt. Optional: defaults to none (a
	// non-retryable ApplicationError never retries anyway).
	NonRetryableErrorTypes []string
}

// TaskOptions configures a task.
type TaskOptions struct {
	// Retry is the task's retry policy. Optional: defaults to nil, one
	// attempt per run.
	Retry *RetryOptions

	// ExecutionTimeout bounds a whole run, retries included.
	// Optional: defaults to unlimited.
	ExecutionTimeout time.Duration

	// RunTimeout bounds one attempt. Optional: defaults to ExecutionTimeout.
	RunTimeout time.Duration

	// TaskTimeout bounds one workflow task (a worker that dies holding one is
	// noticed after it). Optional: defaults to the server's 10s.
	TaskTimeout time.Duration
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
	// Config is the task's retry policy and timeouts, for the starter.
	Config() once.TaskConfig
	// Register registers the task's workflow on r.
	Register(r Registry, rt Runtime)
}

// StarterTasks returns the start settings of defs by task ID, for
// starter.Options.Tasks: a starter that triggers these tasks from outside
// then applies their retry policies and timeouts.
func StarterTasks(defs ...Definition) map[string]once.TaskConfig {
	m := make(map[string]once.TaskConfig, len(defs))
	for _, d := range defs {
		m[d.ID()] = d.Config()
	}
	return m
}

// Task is a task with payload type P and result type R. Make one with
// NewTask, usually as a package-level variable; it is immutable and safe for
// concurrent use.
type Task[P, R any] struct {
	id   string
	fn   func(workflow.Context, P) (R, error)
	opts TaskOptions
	cfg  once.TaskConfig
}

var _ Definition = (*Task[struct{}, struct{}])(nil)

// NewTask defines a task: the workflow type id running fn with opts.
//
// NewTask panics, as regexp.MustCompile does, when id is not a valid task ID
// (idempotency.ValidateTaskID), fn is nil, Retry.MaxAttempts is below 1 or a
// duration is negative: tasks are defined once, at package level, and a bad
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
	t := &Task[P, R]{id: id, fn: fn, opts: opts}
	t.cfg = once.TaskConfig{
		ExecutionTimeout: opts.ExecutionTimeout,
		RunTimeout:       opts.RunTimeout,
		TaskTimeout:      opts.TaskTimeout,
	}
	if r := opts.Retry; r != nil {
		if r.MaxAttempts < 1 {
			panic(fmt.Sprintf("workflows: NewTask %s: Retry.MaxAttempts is %d, want at least 1", id, r.MaxAttempts))
		}
		if r.InitialInterval < 0 || r.MaxInterval < 0 || r.BackoffCoefficient < 0 {
			panic(fmt.Sprintf("workflows: NewTask %s: negative retry interval or coefficient", id))
		}
		rp := &temporal.RetryPolicy{
			InitialInterval:        r.InitialInterval,
			BackoffCoefficient:     r.BackoffCoefficient,
			MaximumInterval:        r.MaxInterval,
			MaximumAttempts:        r.MaxAttempts,
			NonRetryableErrorTypes: append([]string(nil), r.NonRetryableErrorTypes...),
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
		t.cfg.RetryPolicy = rp
	}
	return t
}

// ID is the task ID, also the name of its workflow type.
func (t *Task[P, R]) ID() string { return t.id }

// Options returns the options the task was defined with.
func (t *Task[P, R]) Options() TaskOptions { return t.opts }

// Config is the task's retry policy and timeouts in the starter's form. Give
// it to starter.Options.Tasks (worker.New does) so that runs started from
// outside retry and time out exactly like children started by other tasks.
func (t *Task[P, R]) Config() once.TaskConfig {
	return t.cfg.Clone()
}

// Ref returns a reference to the task with its types and configuration, for
// services that trigger it (starter.TriggerTask). A *Task can be passed to
// starter.TriggerTask itself; a service that should not import the package
// implementing the task declares its own with once.NewTaskRef.
func (t *Task[P, R]) Ref() once.TaskRef[P, R] { return once.NewTaskRef[P, R](t.id, t.cfg) }

// Register registers the task's workflow on r under the task ID. The
// registered function puts the task runtime (rt, and the counters of
// unkeyed triggers) into the workflow context, then calls the task's
// function.
func (t *Task[P, R]) Register(r Registry, rt Runtime) {
	r.RegisterWorkflowWithOptions(t.workflowFunc(rt), workflow.RegisterOptions{Name: t.id})
}

// workflowFunc is the workflow function registered for the task.
func (t *Task[P, R]) workflowFunc(rt Runtime) func(workflow.Context, P) (R, error) {
	return func(ctx workflow.Context, payload P) (R, error) {
		return t.fn(withRuntime(ctx, rt), payload)
	}
}
