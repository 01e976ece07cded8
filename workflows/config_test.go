package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
)

type order struct {
	ID    string `json:"id"`
	Count int    `json:"count"`
}

var (
	retried = NewTask("retried", func(_ workflow.Context, o order) (string, error) { return o.ID, nil }, TaskOptions{
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{"B", "A"}},
		RunTimeout:  time.Minute,
		TaskTimeout: 5 * time.Second,
	})
	plain     = NewTask("plain", func(_ workflow.Context, o order) (string, error) { return o.ID, nil }, TaskOptions{})
	unlimited = NewTask("unlimited", func(_ workflow.Context, o order) (string, error) { return o.ID, nil }, TaskOptions{
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 0, InitialInterval: 2 * time.Second},
	})
)

// TestConfigured: a first run without the task's retry policy or timeouts is
// restarted with them; a run with them, a retry, a restarted run and a run of
// the test environment (no first run ID) are not.
func TestConfigured(t *testing.T) {
	server := func(mod func(*workflow.Info)) *workflow.Info {
		i := &workflow.Info{FirstRunID: "r1", Attempt: 1, WorkflowRunTimeout: time.Minute, WorkflowTaskTimeout: 5 * time.Second}
		i.RetryPolicy = &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 100 * time.Second, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{"A", "B"}, // another order: the same set
		}
		if mod != nil {
			mod(i)
		}
		return i
	}
	for _, tt := range []struct {
		name string
		task interface{ configured(*workflow.Info) bool }
		info *workflow.Info
		want bool
	}{
		{"started with the task's config", retried, server(nil), true},
		{"no retry policy", retried, server(func(i *workflow.Info) { i.RetryPolicy = nil }), false},
		{"another policy", retried, server(func(i *workflow.Info) { i.RetryPolicy.MaximumAttempts = 5 }), false},
		{"another run timeout", retried, server(func(i *workflow.Info) { i.WorkflowRunTimeout = 0 }), false},
		{"another task timeout", retried, server(func(i *workflow.Info) { i.WorkflowTaskTimeout = 10 * time.Second }), false},
		{"a retry", retried, server(func(i *workflow.Info) { i.RetryPolicy = nil; i.Attempt = 2 }), true},
		{"the restarted run", retried, server(func(i *workflow.Info) { i.RetryPolicy = nil; i.ContinuedExecutionRunID = "r0" }), true},
		{"the test environment", retried, server(func(i *workflow.Info) { i.RetryPolicy = nil; i.FirstRunID = "" }), true},
		{"one attempt, no policy", plain, server(func(i *workflow.Info) { i.RetryPolicy = nil }), true},
		{"one attempt, a one-attempt policy", plain, server(func(i *workflow.Info) { i.RetryPolicy = &temporal.RetryPolicy{MaximumAttempts: 1} }), true},
		{"one attempt, a caller's retries", plain, server(nil), false},
		{"unlimited attempts", unlimited, server(func(i *workflow.Info) {
			i.RetryPolicy = &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 200 * time.Second}
		}), true},
		{"unlimited attempts, no policy", unlimited, server(func(i *workflow.Info) { i.RetryPolicy = nil }), false},
		{"unlimited attempts, a bounded policy", unlimited, server(func(i *workflow.Info) {
			i.RetryPolicy = &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 200 * time.Second, MaximumAttempts: 3}
		}), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.task.configured(tt.info))
		})
	}
}

// TestBadPayload: a payload that does not decode into the task's type fails
// the run at once, non-retryably, with one line naming the task and field.
func TestBadPayload(t *testing.T) {
	for _, tt := range []struct {
		name    string
		payload any
		want    string
	}{
		{"a number for a struct", 42, `task "plain": the payload does not decode into the task's payload type: it wants workflows.order, got number`},
		{"a field of another type", map[string]any{"id": "o1", "count": "three"}, `field "count" wants int, got string`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "dev/plain/1"})
			plain.Register(env, Runtime{Environment: "dev"})
			env.ExecuteWorkflow(plain.ID(), tt.payload)
			err := env.GetWorkflowError()
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "got %v", err)
			require.Equal(t, once.ErrTypeBadPayload, appErr.Type())
			require.True(t, appErr.NonRetryable())
			require.Contains(t, appErr.Message(), tt.want)
			require.NotContains(t, appErr.Message(), "\n")
		})
	}

	t.Run("a good payload still runs", func(t *testing.T) {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "dev/plain/1"})
		plain.Register(env, Runtime{Environment: "dev"})
		env.ExecuteWorkflow(plain.ID(), order{ID: "o1", Count: 3})
		require.NoError(t, env.GetWorkflowError())
		var got string
		require.NoError(t, env.GetWorkflowResult(&got))
		require.Equal(t, "o1", got)
	})
}

// TestUnknownTask: a workflow type no task names fails at once, naming the
// task and the tasks the worker runs.
func TestUnknownTask(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterDynamicWorkflow(UnknownTask([]string{"b", "a"}), workflow.DynamicRegisterOptions{})
	env.ExecuteWorkflow("no-such-task", 1)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &appErr), "got %v", env.GetWorkflowError())
	require.Equal(t, once.ErrTypeUnknownTask, appErr.Type())
	require.True(t, appErr.NonRetryable())
	require.Equal(t, `unknown task "no-such-task" (this worker runs: a, b)`, appErr.Message())
}
