package oncetest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/oncetest"
	"github.com/once-run/once/workflows"
)

// Test tasks: a parent that triggers echo with a key and once without one,
// waits for both and fails its first attempt.
var (
	echo = workflows.NewTask("echo", func(_ workflow.Context, s string) (string, error) {
		return s, nil
	}, workflows.TaskOptions{})

	parent = workflows.NewTask("parent", func(ctx workflow.Context, _ struct{}) (parentResult, error) {
		var r parentResult
		var err error
		if r.Keyed, err = echo.TriggerAndWait(ctx, "keyed", workflows.ChildOptions{Key: idempotency.Parts{"k"}}); err != nil {
			return r, err
		}
		if r.Unkeyed, err = echo.TriggerAndWait(ctx, "unkeyed", workflows.ChildOptions{}); err != nil {
			return r, err
		}
		if r.Attempt = workflow.GetInfo(ctx).Attempt; r.Attempt == 1 {
			return r, temporal.NewApplicationError("attempt 1 fails", "FirstAttempt")
		}
		return r, nil
	}, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
)

type parentResult struct {
	Keyed, Unkeyed string
	Attempt        int32
}

// TestRetriedParentStartsEachChildOnce: attempt 2 of the parent re-finds
// both children (its starts are refused, it attaches and gets their results
// through the kit's AttachRun): 2 child starts, as on the server.
func TestRetriedParentStartsEachChildOnce(t *testing.T) {
	env := oncetest.NewEnv(t, oncetest.Options{}, parent, echo)
	var started []string
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		started = append(started, info.WorkflowType.Name)
	})
	env.ExecuteTask(parent, struct{}{})
	require.NoError(t, env.GetWorkflowError())
	var got parentResult
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, parentResult{Keyed: "keyed", Unkeyed: "unkeyed", Attempt: 2}, got)
	require.Equal(t, 2, env.TaskAttempts())
	require.Equal(t, 2, env.ChildStarts(echo.ID()))
	require.Equal(t, 0, env.ChildStarts(parent.ID()), "the run ExecuteTask started is not a child start")

	// The child IDs derive from the run's workflow ID (its stable ID here).
	rc := idempotency.RunContext{RunID: env.TaskWorkflowID(parent)}
	keyed, err := idempotency.Derive(rc, idempotency.ScopeRun, "k")
	require.NoError(t, err)
	unkeyed, err := idempotency.Derive(rc, idempotency.ScopeRun, "once-ordinal", "echo", "1")
	require.NoError(t, err)
	require.Equal(t, []string{"dev/echo/" + string(keyed), "dev/echo/" + string(unkeyed)}, env.ChildWorkflowIDs(echo.ID()))
	require.Equal(t, []string{"parent", "echo", "echo", "parent"}, started, "the user's listener sees every attempt")
}

func TestExecuteTaskReturnsTheTasksFailure(t *testing.T) {
	failing := workflows.NewTask("failing", func(ctx workflow.Context, _ struct{}) (string, error) {
		return "", temporal.NewApplicationError("attempt fails", "Nope")
	}, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
	env := oncetest.NewEnv(t, oncetest.Options{Environment: "staging"}, failing)
	env.ExecuteTask(failing, struct{}{})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &appErr), "got %v", env.GetWorkflowError())
	require.Equal(t, "Nope", appErr.Type())
	require.Equal(t, 3, env.TaskAttempts())
	require.Equal(t, "staging/failing/", env.TaskWorkflowID(failing)[:len("staging/failing/")])
}

// TestAttachToFailedChild: a retried parent that attaches to a child that
// failed gets the child's own failure, as from the worker's AttachRun.
func TestAttachToFailedChild(t *testing.T) {
	broken := workflows.NewTask("broken", func(workflow.Context, struct{}) (string, error) {
		return "", temporal.NewNonRetryableApplicationError("broken", "Broken", nil)
	}, workflows.TaskOptions{})
	var causes []string
	caller := workflows.NewTask("caller", func(ctx workflow.Context, _ struct{}) (string, error) {
		_, err := broken.TriggerAndWait(ctx, struct{}{}, workflows.ChildOptions{})
		var runErr *workflows.RunError
		var appErr *temporal.ApplicationError
		if errors.As(err, &runErr) && errors.As(err, &appErr) {
			causes = append(causes, appErr.Type())
		}
		return "", err
	}, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 2}})
	env := oncetest.NewEnv(t, oncetest.Options{}, caller, broken)
	env.ExecuteTask(caller, struct{}{})
	require.Error(t, env.GetWorkflowError())
	require.Equal(t, []string{"Broken", "Broken"}, causes, "attempt 1 from the child, attempt 2 through AttachRun")
	require.Equal(t, 1, env.ChildStarts(broken.ID()))
}

// TestAttachWaitsForRunningChild: a fire-and-forget child still running
// when the parent's next attempt attaches is waited for.
func TestAttachWaitsForRunningChild(t *testing.T) {
	slow := workflows.NewTask("slow", func(ctx workflow.Context, _ struct{}) (string, error) {
		if err := workflow.Sleep(ctx, 1500*time.Millisecond); err != nil {
			return "", err
		}
		return "slept", nil
	}, workflows.TaskOptions{})
	fire := workflows.NewTask("fire", func(ctx workflow.Context, _ struct{}) (string, error) {
		h, err := slow.Trigger(ctx, struct{}{}, workflows.ChildOptions{})
		if err != nil {
			return "", err
		}
		if workflow.GetInfo(ctx).Attempt == 1 {
			return "", errors.New("attempt 1 fails before the child is done")
		}
		if !h.Cached {
			return "", errors.New("attempt 2 should have attached")
		}
		return h.Get(ctx)
	}, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 2}})
	env := oncetest.NewEnv(t, oncetest.Options{}, fire, slow)
	env.ExecuteTask(fire, struct{}{})
	require.NoError(t, env.GetWorkflowError())
	var got string
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, "slept", got)
	require.Equal(t, 1, env.ChildStarts(slow.ID()))
}

// A child trigger whose failure policy would replace a failed child (from
// another execution than the one that started it) tells the test to mock
// ReleaseRun: the test environment has no starter.
func TestEnvReleaseRunSaysMockIt(t *testing.T) {
	opts := workflows.ChildOptions{Key: idempotency.Parts{"k"}, Scope: idempotency.ScopeGlobal}
	fails := workflows.NewTask("oncetest-fails", func(ctx workflow.Context, in map[string]any) (map[string]any, error) {
		if in["fail"] == true {
			return nil, temporal.NewNonRetryableApplicationError("fails on purpose", "Fails", nil)
		}
		return in, nil
	}, workflows.TaskOptions{OnFailure: once.FailureRelease})
	again := workflows.NewTask("oncetest-again", func(ctx workflow.Context, _ struct{}) (map[string]any, error) {
		return fails.TriggerAndWait(ctx, map[string]any{"fail": false}, opts)
	}, workflows.TaskOptions{})
	parent := workflows.NewTask("oncetest-release-parent", func(ctx workflow.Context, _ struct{}) (map[string]any, error) {
		if _, err := fails.TriggerAndWait(ctx, map[string]any{"fail": true}, opts); err == nil {
			return nil, errors.New("want the first child to fail")
		}
		return again.TriggerAndWait(ctx, struct{}{}, workflows.ChildOptions{})
	}, workflows.TaskOptions{})
	env := oncetest.NewEnv(t, oncetest.Options{}, fails, again, parent)
	env.ExecuteWorkflow(parent.ID(), struct{}{})
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "mock "+workflows.ReleaseRunActivity)
}
