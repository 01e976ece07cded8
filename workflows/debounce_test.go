package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/plan"
	"github.com/once-run/once/workflows"
)

// debounceEnv is a test environment with the debouncer and the example
// tasks, whose started children it records with their payload and the
// (test environment's) time of their start.
type debounceEnv struct {
	*testsuite.TestWorkflowEnvironment
	d        plan.Debouncer
	children []startedChild
}

type startedChild struct {
	id      string
	payload map[string]any
	at      time.Duration // since the debouncer's start
}

func newDebounceEnv(t *testing.T, d once.Debounce) *debounceEnv {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := &debounceEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment()}
	e, err := plan.NewEnv("dev")
	require.NoError(t, err)
	pt, err := e.Task(examples.ChildTask.ID())
	require.NoError(t, err)
	env.d, err = pt.Debouncer(d)
	require.NoError(t, err)
	rt := workflows.Runtime{Environment: "dev"}
	for _, task := range examples.Tasks() {
		task.Register(env, rt)
	}
	workflows.RegisterDebouncer(env, rt)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: env.d.WorkflowID})
	start := env.Now()
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		var p map[string]any
		require.NoError(t, args.Get(&p))
		env.children = append(env.children, startedChild{id: info.WorkflowExecution.ID, payload: p, at: env.Now().Sub(start)})
	})
	return env
}

// signalEvery signals n triggers, the i-th (from 0) with payload {"i": i}
// at i*every after the start.
func (env *debounceEnv) signalEvery(n int, every time.Duration) {
	for i := range n {
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflow(once.DebounceSignal, map[string]any{"i": i})
		}, time.Duration(i)*every+time.Millisecond)
	}
}

func (env *debounceEnv) run(t *testing.T) workflows.DebounceResult {
	t.Helper()
	env.ExecuteWorkflow(once.DebounceWorkflow, env.d.Input())
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DebounceResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res
}

// wantRunID is the workflow ID of the run the debouncer starts: in the test
// environment its run ID is the debouncer's run ID, which the result names
// the run by; it is the run a trigger was told about.
func (env *debounceEnv) wantRun(t *testing.T, res workflows.DebounceResult) {
	t.Helper()
	require.Len(t, env.children, 1, "one run per burst")
	require.Equal(t, res.WorkflowID, env.children[0].id)
	require.Regexp(t, `^dev/child-task/[0-9a-f]{64}$`, res.WorkflowID)
}

func TestDebounceTrailing(t *testing.T) {
	env := newDebounceEnv(t, once.Debounce{Key: "k", Delay: 500 * time.Millisecond, Mode: once.DebounceTrailing})
	env.signalEvery(50, 40*time.Millisecond) // 50 triggers over 2 s
	res := env.run(t)
	env.wantRun(t, res)
	require.Equal(t, 50, res.Triggers)
	require.Equal(t, map[string]any{"i": float64(49)}, env.children[0].payload, "the last payload")
	// Started after 500 ms of quiet after the last trigger (at 1.961 s).
	require.InDelta(t, 1961+500, env.children[0].at.Milliseconds(), 50)
}

func TestDebounceLeading(t *testing.T) {
	env := newDebounceEnv(t, once.Debounce{Key: "k", Delay: 500 * time.Millisecond, Mode: once.DebounceLeading})
	env.signalEvery(50, 40*time.Millisecond)
	res := env.run(t)
	env.wantRun(t, res)
	require.Equal(t, 50, res.Triggers, "the whole burst absorbed")
	require.Equal(t, map[string]any{"i": float64(0)}, env.children[0].payload, "the first payload")
	require.Less(t, env.children[0].at, 100*time.Millisecond, "started at once")
}

// A burst that never goes quiet: triggers every 100 ms for 3 s, delay
// 500 ms, maxDelay 1 s. The run starts 1 s after the first trigger, with
// the payload of then; the debouncer closes, and later triggers are a new
// burst's (a new debouncer: signal-with-start on a closed workflow ID).
func TestDebounceMaxDelay(t *testing.T) {
	env := newDebounceEnv(t, once.Debounce{Key: "k", Delay: 500 * time.Millisecond, MaxDelay: time.Second, Mode: once.DebounceTrailing})
	env.signalEvery(30, 100*time.Millisecond)
	res := env.run(t)
	env.wantRun(t, res)
	require.InDelta(t, 1000, env.children[0].at.Milliseconds(), 20, "capped by maxDelay")
	require.Equal(t, 10, res.Triggers)
	require.Equal(t, map[string]any{"i": float64(9)}, env.children[0].payload)
}

func TestDebounceLeadingMaxDelay(t *testing.T) {
	env := newDebounceEnv(t, once.Debounce{Key: "k", Delay: 500 * time.Millisecond, MaxDelay: time.Second, Mode: once.DebounceLeading})
	env.signalEvery(30, 100*time.Millisecond)
	res := env.run(t)
	env.wantRun(t, res)
	require.Equal(t, map[string]any{"i": float64(0)}, env.children[0].payload)
	require.Equal(t, 10, res.Triggers, "the burst ends maxDelay after its first trigger")
}

// A debouncer started without a trigger (not by Once) starts nothing.
func TestDebounceWithoutTrigger(t *testing.T) {
	env := newDebounceEnv(t, once.Debounce{Key: "k", Delay: time.Second})
	res := env.run(t)
	require.Empty(t, env.children)
	require.Equal(t, workflows.DebounceResult{}, res)
}

func TestDebounceRefusesForeignStart(t *testing.T) {
	tests := []struct {
		name string
		id   string
		in   plan.DebounceInput
	}{
		{"a task run's ID", "dev/child-task/" + string(make64('a')), plan.DebounceInput{Mode: once.DebounceLeading, Delay: time.Second}},
		{"no delay", "", plan.DebounceInput{Mode: once.DebounceLeading}},
		{"unknown mode", "", plan.DebounceInput{Mode: "sideways", Delay: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newDebounceEnv(t, once.Debounce{Key: "k", Delay: time.Second})
			if tt.id != "" {
				env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: tt.id})
			}
			env.ExecuteWorkflow(once.DebounceWorkflow, tt.in)
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, env.GetWorkflowError(), &appErr)
			require.Equal(t, workflows.ErrTypeDebouncer, appErr.Type())
			require.True(t, appErr.NonRetryable())
			require.Empty(t, env.children)
		})
	}
}

func make64(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}

// debouncingParent triggers child-task debounced from workflow code and
// returns the run's workflow ID and result.
var debouncingParent = workflows.NewTask("debouncing-parent", func(ctx workflow.Context, _ struct{}) ([]any, error) {
	h, err := examples.ChildTask.Trigger(ctx, map[string]any{"n": 1}, workflows.ChildOptions{
		Debounce: &once.Debounce{Key: "k", Delay: time.Second, Mode: once.DebounceTrailing},
	})
	if err != nil {
		return nil, err
	}
	r, err := h.Get(ctx)
	if err != nil {
		return nil, err
	}
	return []any{h.WorkflowID, r}, nil
}, workflows.TaskOptions{})

// From workflow code a debounced trigger signals the debouncer through
// SignalDebouncer; its handle names the run derived from the debouncer's
// run ID, and Get waits for the debouncer's run, then for that run.
func TestDebounceFromWorkflow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	debouncingParent.Register(env, workflows.Runtime{Environment: "dev"})
	env.RegisterActivity(&workflows.RuntimeActivities{})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "dev/debouncing-parent/" + string(make64('b'))})

	e, _ := plan.NewEnv("dev")
	pt, _ := e.Task(examples.ChildTask.ID())
	d, err := pt.Debouncer(once.Debounce{Key: "k", Delay: time.Second, Mode: once.DebounceTrailing})
	require.NoError(t, err)
	run, err := d.Run("debouncer-run-1")
	require.NoError(t, err)

	var acts *workflows.RuntimeActivities
	env.OnActivity(acts.SignalDebouncer, mock.Anything, mock.MatchedBy(func(in workflows.SignalDebouncerInput) bool {
		return in.WorkflowID == d.WorkflowID && in.Mode == once.DebounceTrailing && in.Delay == time.Second && in.MaxDelay == 0 && in.KeyText == "k"
	}), mock.Anything).Return("debouncer-run-1", nil).Once()
	debRes, _ := converter.GetDefaultDataConverter().ToPayload(workflows.DebounceResult{WorkflowID: run.WorkflowID, Triggers: 1})
	env.OnActivity(acts.AttachRun, mock.Anything, workflows.AttachInput{WorkflowID: d.WorkflowID, RunID: "debouncer-run-1"}).
		Return(converter.NewRawValue(debRes), nil).Once()
	runRes, _ := converter.GetDefaultDataConverter().ToPayload(map[string]any{"n": 1})
	env.OnActivity(acts.AttachRun, mock.Anything, workflows.AttachInput{WorkflowID: run.WorkflowID}).
		Return(converter.NewRawValue(runRes), nil).Once()

	env.ExecuteWorkflow(debouncingParent.ID(), struct{}{})
	require.NoError(t, env.GetWorkflowError())
	var got []any
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, []any{run.WorkflowID, map[string]any{"n": float64(1)}}, got)
	env.AssertExpectations(t)
}

func TestDebounceFromWorkflowRefusesKey(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	task := workflows.NewTask("keyed-debounce", func(ctx workflow.Context, _ struct{}) (string, error) {
		_, err := examples.ChildTask.Trigger(ctx, nil, workflows.ChildOptions{
			Key: idempotency.Parts{"x"}, Debounce: &once.Debounce{Key: "k", Delay: time.Second},
		})
		return "", err
	}, workflows.TaskOptions{})
	task.Register(env, workflows.Runtime{Environment: "dev"})
	env.RegisterActivity(&workflows.RuntimeActivities{})
	env.ExecuteWorkflow(task.ID(), struct{}{})
	require.ErrorContains(t, env.GetWorkflowError(), "invalid debounce")
}
