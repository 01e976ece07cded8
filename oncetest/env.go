package oncetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/runctx"
	"github.com/once-run/once/workflows"
)

// runWorkflow is the name of the kit's workflow that runs a task as its
// child (ExecuteTask).
const runWorkflow = "oncetest-run"

// TaskKeyText is the key text of the run ExecuteTask starts: its workflow ID
// is "<environment>/<task>/<global key of TaskKeyText>".
const TaskKeyText = "oncetest"

// Options configures NewEnv.
type Options struct {
	// Environment the tasks run in, as a worker of that environment runs
	// them. Optional: defaults to once.DefaultEnvironment ("dev").
	Environment string

	// Suite makes the test environment (its logger, header, …). Its context
	// propagators are replaced by Once's: add yours with
	// Env.SetContextPropagators. Optional: defaults to a suite that logs the
	// SDK's warnings and errors to the test's log.
	Suite *testsuite.WorkflowTestSuite
}

// Env is a test environment for Once tasks: a
// testsuite.TestWorkflowEnvironment (all its methods apply) that also
// answers AttachRun and keeps track of the child runs. Make one with NewEnv;
// like the environment it wraps, it runs one workflow.
type Env struct {
	*testsuite.TestWorkflowEnvironment

	environment string

	mu        sync.Mutex
	runs      []*childRun          // in start order
	latest    map[string]*childRun // workflow ID → its latest run
	taskID    string               // the run ExecuteTask started
	onStarted func(*workflow.Info, workflow.Context, converter.EncodedValues)
	onDone    func(*workflow.Info, converter.EncodedValue, error)
}

// childRun is a child workflow run of the test (retries are its attempts).
type childRun struct {
	task, workflowID string
	attempts         int
	done             chan struct{} // closed when the run closed
	result           converter.RawValue
	err              error // the run's own failure
}

// NewEnv returns a test environment with tasks registered for
// opts.Environment (as the worker package registers them), Once's context
// propagator (activities see the run context, as on a worker), and the
// runtime's activity AttachRun answered from the child runs of the test: it
// waits for the run that holds the workflow ID and returns its result, or
// its failure as the worker's AttachRun does (ErrTypeRunFailed). While it
// waits for a run still open, the test environment's clock moves at
// wall-clock pace (as while any activity runs), so a child that sleeps long
// makes the test wait. The runtime's ReleaseRun (a child whose failure
// policy replaces a failed child) it cannot emulate: it fails with an error
// that says to mock it.
//
// Register the tasks' activities (or mock them) on the returned Env. Do not
// replace its child-workflow listeners with those of the embedded
// TestWorkflowEnvironment: Env's SetOnChildWorkflowStartedListener and
// SetOnChildWorkflowCompletedListener add yours beside its own.
//
// NewEnv panics, as the test environment does, when a task is registered
// twice; it calls tb.Fatal for an invalid environment.
func NewEnv(tb testing.TB, opts Options, tasks ...workflows.Definition) *Env {
	tb.Helper()
	env := opts.Environment
	if env == "" {
		env = once.DefaultEnvironment
	}
	if err := idempotency.ValidateEnvironment(env); err != nil {
		tb.Fatalf("oncetest: Options.Environment %q: %v", env, err)
	}
	suite := opts.Suite
	if suite == nil {
		suite = &testsuite.WorkflowTestSuite{}
		suite.SetLogger(testLogger(tb))
	}
	e := &Env{
		TestWorkflowEnvironment: suite.NewTestWorkflowEnvironment(),
		environment:             env,
		latest:                  map[string]*childRun{},
	}
	rt := workflows.Runtime{Environment: env}
	for _, t := range tasks {
		t.Register(e.TestWorkflowEnvironment, rt)
	}
	e.TestWorkflowEnvironment.RegisterActivityWithOptions(e.attachRun, activity.RegisterOptions{Name: workflows.AttachRunActivity})
	e.TestWorkflowEnvironment.RegisterActivityWithOptions(e.releaseRun, activity.RegisterOptions{Name: workflows.ReleaseRunActivity})
	e.TestWorkflowEnvironment.SetContextPropagators([]workflow.ContextPropagator{runctx.NewContextPropagator()})
	e.TestWorkflowEnvironment.SetOnChildWorkflowStartedListener(e.childStarted)
	e.TestWorkflowEnvironment.SetOnChildWorkflowCompletedListener(e.childCompleted)
	return e
}

// Environment is the environment the tasks run in.
func (e *Env) Environment() string { return e.environment }

// SetContextPropagators sets more context propagators; Once's stays.
func (e *Env) SetContextPropagators(props []workflow.ContextPropagator) *Env {
	all := append(append([]workflow.ContextPropagator(nil), props...), runctx.NewContextPropagator())
	e.TestWorkflowEnvironment.SetContextPropagators(all)
	return e
}

// SetOnChildWorkflowStartedListener sets a listener called when a child
// workflow (each attempt) starts, beside the Env's own.
func (e *Env) SetOnChildWorkflowStartedListener(l func(*workflow.Info, workflow.Context, converter.EncodedValues)) *Env {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onStarted = l
	return e
}

// SetOnChildWorkflowCompletedListener sets a listener called when a child
// workflow run closes (after its last attempt), beside the Env's own.
func (e *Env) SetOnChildWorkflowCompletedListener(l func(*workflow.Info, converter.EncodedValue, error)) *Env {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onDone = l
	return e
}

// TaskWorkflowID is the workflow ID ExecuteTask gives a run of task:
// "<environment>/<task>/<key>" with the global key of TaskKeyText. In the
// test environment it is also the run's stable ID (idempotency.RunContext
// RunID), from which its run- and attempt-scoped keys derive.
func (e *Env) TaskWorkflowID(task workflows.Definition) string {
	key, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, TaskKeyText)
	if err != nil {
		panic(err) // a constant, valid key text
	}
	id, err := idempotency.WorkflowID(e.environment, task.ID(), key)
	if err != nil {
		panic(fmt.Sprintf("oncetest: workflow ID of task %s: %v", task.ID(), err))
	}
	return id
}

// ExecuteTask runs task with payload as Once starts it: workflow ID
// TaskWorkflowID(task), the task's retry policy and timeouts. A failed
// attempt is retried as the server would, so the attempts after the first
// can be tested (workflow.GetInfo(ctx).Attempt grows, the run's keys stay).
// Read the outcome with GetWorkflowResult and GetWorkflowError as after
// ExecuteWorkflow: the task's result, or its last attempt's failure.
//
// The test environment never retries a top-level workflow, so the task runs
// as the child of a workflow of the kit; that run is not counted by
// ChildStarts. Call ExecuteTask (or ExecuteWorkflow) once per Env.
func (e *Env) ExecuteTask(task workflows.Definition, payload any) {
	id := e.TaskWorkflowID(task)
	opts := task.Options()
	e.mu.Lock()
	e.taskID = id
	e.mu.Unlock()
	run := func(ctx workflow.Context) (converter.RawValue, error) {
		ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:               id,
			WorkflowExecutionTimeout: opts.ExecutionTimeout,
			WorkflowRunTimeout:       opts.RunTimeout,
			WorkflowTaskTimeout:      opts.TaskTimeout,
			RetryPolicy:              opts.RetryPolicy,
		})
		var raw converter.RawValue
		err := workflow.ExecuteChildWorkflow(ctx, task.ID(), payload).Get(ctx, &raw)
		var childErr *temporal.ChildWorkflowExecutionError
		if errors.As(err, &childErr) && errors.Unwrap(childErr) != nil {
			err = errors.Unwrap(childErr) // the task's own failure
		}
		return raw, err
	}
	e.RegisterWorkflowWithOptions(run, workflow.RegisterOptions{Name: runWorkflow})
	e.ExecuteWorkflow(runWorkflow)
}

// TaskAttempts is the number of attempts of the run ExecuteTask started.
func (e *Env) TaskAttempts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.latest[e.taskID]; r != nil {
		return r.attempts
	}
	return 0
}

// ChildStarts is the number of child runs of task that were started: a
// retry of a child is an attempt of its run, not a start, and a trigger that
// attached to an existing run starts nothing, as on the server. The run
// ExecuteTask started is not counted.
func (e *Env) ChildStarts(task string) int {
	return len(e.ChildWorkflowIDs(task))
}

// ChildWorkflowIDs returns the workflow IDs of the child runs of task that
// were started, in start order (see ChildStarts).
func (e *Env) ChildWorkflowIDs(task string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for _, r := range e.runs {
		if r.task == task && r.workflowID != e.taskID {
			ids = append(ids, r.workflowID)
		}
	}
	return ids
}

func (e *Env) childStarted(info *workflow.Info, ctx workflow.Context, args converter.EncodedValues) {
	e.mu.Lock()
	id := info.WorkflowExecution.ID
	if r := e.latest[id]; r != nil && info.Attempt > 1 {
		r.attempts++
	} else {
		r = &childRun{task: info.WorkflowType.Name, workflowID: id, attempts: 1, done: make(chan struct{})}
		e.runs = append(e.runs, r)
		e.latest[id] = r
	}
	l := e.onStarted
	e.mu.Unlock()
	if l != nil {
		l(info, ctx, args)
	}
}

func (e *Env) childCompleted(info *workflow.Info, result converter.EncodedValue, err error) {
	e.mu.Lock()
	if r := e.latest[info.WorkflowExecution.ID]; r != nil {
		select {
		case <-r.done:
		default:
			r.err = err
			var childErr *temporal.ChildWorkflowExecutionError
			if errors.As(err, &childErr) && errors.Unwrap(childErr) != nil {
				r.err = errors.Unwrap(childErr)
			}
			if err == nil && result != nil && result.HasValue() {
				if getErr := result.Get(&r.result); getErr != nil {
					r.err = getErr
				}
			}
			close(r.done)
		}
	}
	l := e.onDone
	e.mu.Unlock()
	if l != nil {
		l(info, result, err)
	}
}

// releaseRun answers the runtime's ReleaseRun in the test environment: a
// child trigger whose workflow ID a failed child holds, under a failure
// policy that releases it, would have the starter start the run that
// replaces it, and the test environment has none. It fails the trigger,
// non-retryably, saying to mock ReleaseRun (env.OnActivity with
// workflows.ReleaseRunActivity, returning a workflows.ReleaseResult) and
// AttachRun for the run it names.
func (e *Env) releaseRun(_ context.Context, in workflows.ReleaseInput, _ converter.RawValue) (workflows.ReleaseResult, error) {
	return workflows.ReleaseResult{}, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("oncetest: the failed run of %s would be replaced (its failure policy releases its key), which the test environment cannot do: mock %s and %s",
			in.WorkflowID, workflows.ReleaseRunActivity, workflows.AttachRunActivity),
		workflows.ErrTypeMisconfigured, nil)
}

// attachRun answers the runtime's AttachRun in the test environment: it
// waits for the child run that holds in.WorkflowID and returns its result.
// While it waits, the test environment's clock runs at wall-clock pace.
func (e *Env) attachRun(ctx context.Context, in workflows.AttachInput) (converter.RawValue, error) {
	e.mu.Lock()
	r := e.latest[in.WorkflowID]
	e.mu.Unlock()
	if r == nil {
		return converter.RawValue{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("oncetest: no child run holds workflow ID %s in this test environment", in.WorkflowID),
			workflows.ErrTypeRunNotFound, nil)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for wait := true; wait; {
		select {
		case <-r.done:
			wait = false
		case <-ctx.Done():
			return converter.RawValue{}, ctx.Err()
		case <-tick.C:
			activity.RecordHeartbeat(ctx)
		}
	}
	if r.err != nil {
		return converter.RawValue{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("run %s closed without a result: %v", in.WorkflowID, r.err), workflows.ErrTypeRunFailed, r.err)
	}
	if r.result.Payload() == nil {
		// The run completed without a result payload: hand on null, as
		// the worker's AttachRun does.
		p, err := converter.GetDefaultDataConverter().ToPayload(nil)
		if err != nil {
			return converter.RawValue{}, err
		}
		return converter.NewRawValue(p), nil
	}
	return r.result, nil
}

// testLogger logs the SDK's warnings and errors to tb's log, until the test
// ends (the environment's goroutines may outlive it).
func testLogger(tb testing.TB) sdklog.Logger {
	sink := &tbSink{tb: tb}
	tb.Cleanup(func() {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		sink.ended = true
	})
	return sdklog.NewStructuredLogger(slog.New(&tbHandler{sink: sink}))
}

// tbSink is a test's log while the test runs.
type tbSink struct {
	mu    sync.Mutex
	tb    testing.TB
	ended bool
}

// tbHandler is a slog.Handler that writes warnings and errors to a tbSink.
type tbHandler struct {
	sink  *tbSink
	attrs []slog.Attr
}

func (h *tbHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *tbHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Level.String() + " " + r.Message
	for _, a := range h.attrs {
		msg += " " + a.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		msg += " " + a.String()
		return true
	})
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	if !h.sink.ended {
		h.sink.tb.Log(msg)
	}
	return nil
}

func (h *tbHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &tbHandler{sink: h.sink, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *tbHandler) WithGroup(string) slog.Handler { return h }
