package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// A task is defined once: its retry policy and timeouts apply whoever starts
// it — an untyped trigger, the CLI, a raw client.ExecuteWorkflow that names
// only its ID, type and queue — and a run of a task no worker knows, or with
// a payload that does not decode, fails at once instead of holding its key.

// defOutput is what flakyThree returns from its last attempt.
type defOutput struct {
	Attempt    int32  `json:"attempt"`
	Keyed      string `json:"keyed"`      // workflow ID of the run-scoped keyed child
	KeyedHit   bool   `json:"keyedHit"`   // that child was found, not started, by this attempt
	Unkeyed    string `json:"unkeyed"`    // workflow ID of the unkeyed child
	UnkeyedHit bool   `json:"unkeyedHit"` // likewise
	PerAttempt string `json:"perAttempt"` // workflow ID of this attempt's attempt-scoped child
}

type defInput struct {
	Order string `json:"order"`
}

var (
	// defChild returns its payload.
	defChild = workflows.NewTask("def-child", func(_ workflow.Context, s string) (string, error) {
		return s, nil
	}, workflows.TaskOptions{})

	// flakyThree fails its first two attempts after triggering its
	// children, and succeeds on the third.
	flakyThree = workflows.NewTask("flaky-three", func(ctx workflow.Context, in defInput) (defOutput, error) {
		attempt := workflow.GetInfo(ctx).Attempt
		out := defOutput{Attempt: attempt}
		keyed, err := defChild.Trigger(ctx, "keyed "+in.Order, workflows.ChildOptions{Key: idempotency.Parts{"keyed"}})
		if err != nil {
			return out, err
		}
		unkeyed, err := defChild.Trigger(ctx, "unkeyed "+in.Order, workflows.ChildOptions{})
		if err != nil {
			return out, err
		}
		perAttempt, err := defChild.Trigger(ctx, fmt.Sprint("attempt ", attempt), workflows.ChildOptions{Key: idempotency.Parts{"a"}, Scope: idempotency.ScopeAttempt})
		if err != nil {
			return out, err
		}
		out.Keyed, out.KeyedHit = keyed.WorkflowID, keyed.Cached
		out.Unkeyed, out.UnkeyedHit = unkeyed.WorkflowID, unkeyed.Cached
		out.PerAttempt = perAttempt.WorkflowID
		if attempt < 3 {
			return out, temporal.NewApplicationError(fmt.Sprintf("attempt %d fails on purpose", attempt), "DefFlaky")
		}
		return out, nil
	}, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: 100 * time.Millisecond}})

	// slowFirst outlives its run timeout in its first attempt; the second
	// returns at once.
	slowFirst = workflows.NewTask("slow-first", func(ctx workflow.Context, _ defInput) (int32, error) {
		attempt := workflow.GetInfo(ctx).Attempt
		if attempt == 1 {
			if err := workflow.Sleep(ctx, time.Minute); err != nil {
				return attempt, err
			}
		}
		return attempt, nil
	}, workflows.TaskOptions{
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 2, InitialInterval: 100 * time.Millisecond},
		RunTimeout:  2 * time.Second,
	})
)

// defEnv is an environment with a worker of the tasks above and a starter
// that knows nothing of them.
func defEnv(t *testing.T) (env string, s *starter.Client) {
	t.Helper()
	env = unique("def")
	s = newStarter(t, starter.Options{Environment: env, Logger: shared.DiscardLogger()})
	w, err := worker.New(s, worker.Options{Tasks: []workflows.Definition{defChild, flakyThree, slowFirst}, Logger: shared.DiscardLogger()})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return env, s
}

// TestTaskRetriesWhoeverStarts: flaky-three succeeds on attempt 3 however
// it is started, its children are not duplicated across attempts, and its
// attempt-scoped children differ per attempt.
func TestTaskRetriesWhoeverStarts(t *testing.T) {
	env, s := defEnv(t)
	ctx := testCtx(t, 2*time.Minute)
	starts := map[string]func(t *testing.T, order string) (workflowID, firstRunID string){
		"untyped trigger": func(t *testing.T, order string) (string, string) {
			run, err := s.Trigger(ctx, flakyThree.ID(), defInput{Order: order}, starter.TriggerOptions{Key: idempotency.Parts{order}})
			require.NoError(t, err)
			return run.WorkflowID, run.RunID
		},
		"the CLI": func(t *testing.T, order string) (string, string) {
			r := cli(t, env, "", "trigger", flakyThree.ID(), "--key", order, "--payload", `{"order":"`+order+`"}`, "--json")
			requireOK(t, r)
			got := decodeJSON[cliTrigger](t, r.stdout)
			return got.WorkflowID, got.RunID
		},
		"a raw ExecuteWorkflow": func(t *testing.T, order string) (string, string) {
			run, err := s.Temporal().ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID:        env + "/" + flakyThree.ID() + "/raw-" + order,
				TaskQueue: once.TaskQueue("", env),
			}, flakyThree.ID(), defInput{Order: order})
			require.NoError(t, err)
			return run.GetID(), run.GetRunID()
		},
	}
	for name, start := range starts {
		t.Run(name, func(t *testing.T) {
			order := unique("o")
			workflowID, firstRunID := start(t, order)
			var out defOutput
			require.NoError(t, s.Temporal().GetWorkflow(ctx, workflowID, firstRunID).Get(ctx, &out), "the run's result, following its chain")
			require.Equal(t, int32(3), out.Attempt, "attempts 1 and 2 failed, the task's policy retried them")
			require.True(t, out.KeyedHit, "attempt 3 found the keyed child of attempt 1")
			require.True(t, out.UnkeyedHit, "attempt 3 found the unkeyed child of attempt 1")

			rc := idempotency.RunContext{Environment: env, TaskID: flakyThree.ID(), RunID: firstRunID, Attempt: 3}
			k3, err := idempotency.Derive(rc, idempotency.ScopeAttempt, "a")
			require.NoError(t, err)
			require.Equal(t, env+"/"+defChild.ID()+"/"+string(k3), out.PerAttempt, "attempt-scoped keys: first run ID and attempt number")

			// Children: one keyed, one unkeyed, one per attempt.
			var ids []string
			for attempt := int32(1); attempt <= 3; attempt++ {
				rc.Attempt = attempt
				k, err := idempotency.Derive(rc, idempotency.ScopeAttempt, "a")
				require.NoError(t, err)
				ids = append(ids, env+"/"+defChild.ID()+"/"+string(k))
			}
			ids = append(ids, out.Keyed, out.Unkeyed)
			for _, id := range ids {
				requireOneRun(t, ctx, s, id)
			}
		})
	}
}

// requireOneRun: the workflow ID has exactly one run, completed.
func requireOneRun(t *testing.T, ctx context.Context, s *starter.Client, workflowID string) {
	t.Helper()
	eventually(t, 30*time.Second, "child "+workflowID+" completed", func() (bool, error) {
		d, err := s.Temporal().DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			return false, err
		}
		return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, nil
	})
	resp, err := s.Temporal().ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.Namespace(), Query: fmt.Sprintf("WorkflowId = '%s'", workflowID),
	})
	require.NoError(t, err)
	require.LessOrEqual(t, len(resp.GetExecutions()), 1, "one run of %s", workflowID)
}

// TestTaskRunTimeoutRetries: an attempt that outlives the task's run
// timeout ends, and the next attempt runs — for an untyped trigger that
// named no timeout.
func TestTaskRunTimeoutRetries(t *testing.T) {
	_, s := defEnv(t)
	ctx := testCtx(t, time.Minute)
	run, err := s.Trigger(ctx, slowFirst.ID(), defInput{}, starter.TriggerOptions{Key: idempotency.Parts{unique("k")}})
	require.NoError(t, err)
	var attempt int32
	start := time.Now()
	require.NoError(t, run.Get(ctx, &attempt))
	require.Equal(t, int32(2), attempt)
	require.Less(t, time.Since(start), 45*time.Second, "the first attempt ended at its run timeout, not after its minute")
}

// TestUnknownTaskAndBadPayloadFailAtOnce: neither run stays open holding its
// key; each is closed failed within 5 s with one line that says why.
func TestUnknownTaskAndBadPayloadFailAtOnce(t *testing.T) {
	_, s := defEnv(t)
	ctx := testCtx(t, time.Minute)
	for _, tt := range []struct {
		name, task string
		payload    any
		errType    string
		message    string
	}{
		{"unknown task", "no-such-task", defInput{}, once.ErrTypeUnknownTask,
			`unknown task "no-such-task" (this worker runs: def-child, flaky-three, slow-first)`},
		{"payload of another type", flakyThree.ID(), 42, once.ErrTypeBadPayload,
			`task "flaky-three": the payload does not decode into the task's payload type`},
		{"field of another type", flakyThree.ID(), map[string]any{"order": 7}, once.ErrTypeBadPayload,
			`field "order" wants string, got number`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := idempotency.Parts{unique("k")}
			run, err := s.Trigger(ctx, tt.task, tt.payload, starter.TriggerOptions{Key: key})
			require.NoError(t, err)
			start := time.Now()
			err = run.Get(testCtx(t, 5*time.Second), nil)
			require.Error(t, err)
			require.Less(t, time.Since(start), 5*time.Second)
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, err, &appErr)
			require.Equal(t, tt.errType, appErr.Type())
			require.Contains(t, appErr.Message(), tt.message)
			require.NotContains(t, appErr.Message(), "\n")
			info, err := s.Lookup(ctx, tt.task, key, starter.LookupOptions{})
			require.NoError(t, err)
			require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, info.Status, "closed failed, after one attempt")
			require.True(t, strings.HasPrefix(info.WorkflowID, s.Environment()+"/"))
		})
	}
}

// TestStarterRefusesUnknownTasks: a starter with Options.Tasks, and the
// worker's starter (its tasks added), refuse another task at once, as an
// input error that names it, with nothing started; their tasks still start.
func TestStarterRefusesUnknownTasks(t *testing.T) {
	env := unique("def")
	s := newStarter(t, starter.Options{Environment: env, Tasks: []string{"elsewhere"}, Logger: shared.DiscardLogger()})
	w, err := worker.New(s, worker.Options{Tasks: []workflows.Definition{defChild}, Logger: shared.DiscardLogger()})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	ctx := testCtx(t, time.Minute)
	key := idempotency.Parts{unique("k")}

	for name, c := range map[string]*starter.Client{"the starter": s, "the worker's starter": w.Starter()} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Trigger(ctx, "no-such-task", "x", starter.TriggerOptions{Key: key})
			require.ErrorIs(t, err, starter.ErrUnknownTask)
			require.ErrorIs(t, err, once.ErrInvalidInput)
			require.Contains(t, err.Error(), `unknown task "no-such-task"`)
			_, err = c.Lookup(ctx, "no-such-task", key, starter.LookupOptions{})
			require.ErrorIs(t, err, starter.ErrUnknownTask, "a lookup is refused too")
		})
	}
	resp, err := s.Temporal().ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.Namespace(), Query: fmt.Sprintf("WorkflowId STARTS_WITH '%s/'", env),
	})
	require.NoError(t, err)
	require.Empty(t, resp.GetExecutions(), "no run in the environment")

	_, err = s.Trigger(ctx, defChild.ID(), "x", starter.TriggerOptions{})
	require.ErrorIs(t, err, starter.ErrUnknownTask, "the starter knows only its own tasks")
	run, err := w.Starter().Trigger(ctx, defChild.ID(), "x", starter.TriggerOptions{Key: key})
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "x", got)
}
