package e2e

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/once-run/once"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// TestTasksMyTaskRetriesAttachToOneChild: my-task with failAttempts 3
// completes on attempt 4 (attempts of one run: same first run ID), and its
// four attempts share one child-task run: attempts 2–4 had the start refused
// by the server (WORKFLOW_ALREADY_EXISTS) and attached. The child carries
// the memo (key text and scope: task, environment and key are in its ID).
// The run the starter started (without the task's retry policy) is
// restarted once by the worker with it: one more execution of the chain.
func TestTasksMyTaskRetriesAttachToOneChild(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	ctx := testCtx(t, 2*time.Minute)
	var got examples.MyTaskResult
	run := e.triggerAndGet(t, ctx, examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 3}, &got)
	require.Equal(t, examples.MyTaskResult{Attempt: 4, Child: map[string]any{"parent": run.WorkflowID}}, got)

	childID := e.childID(t, "child-task", run.RunID, 0, idempotency.ScopeRun, examples.MyTaskKeyText)
	e.requireRunIDs(t, ctx, "child-task", []string{childID})
	e.requireRunIDs(t, ctx, "my-task", []string{run.WorkflowID, run.WorkflowID, run.WorkflowID, run.WorkflowID, run.WorkflowID}) // the restart, attempts 1–4

	desc, err := e.c.DescribeWorkflowExecution(ctx, childID, "")
	require.NoError(t, err)
	info := desc.GetWorkflowExecutionInfo()
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, info.GetStatus())
	key := childID[len(childID)-idempotency.KeyLen:]
	require.Equal(t, map[string]string{once.MemoKeyText: key, once.MemoKeyScope: "run"}, memoStrings(t, info.GetMemo()))
	for _, name := range once.SearchAttributes() {
		require.NotContains(t, info.GetSearchAttributes().GetIndexedFields(), name, "no custom search attributes by default")
	}

	// The last attempt's history: the server refused the child's start
	// because the ID exists, and the attach activity returned its result.
	h := runHistory(t, ctx, e.c, run.WorkflowID, "")
	var refused, attached bool
	for _, ev := range h.GetEvents() {
		if a := ev.GetStartChildWorkflowExecutionFailedEventAttributes(); a != nil {
			refused = a.GetCause() == enumspb.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS && a.GetWorkflowId() == childID
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "AttachRun" {
			attached = true
		}
	}
	require.True(t, refused, "attempt 4 saw StartChildWorkflowExecutionFailed(WORKFLOW_ALREADY_EXISTS)")
	require.True(t, attached, "attempt 4 attached with AttachRun")
}

// TestTasksMyTaskOrdinalKey: the same without a key: the child's ID comes
// from (parent run ID, child task, ordinal 1).
func TestTasksMyTaskOrdinalKey(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	ctx := testCtx(t, 2*time.Minute)
	var got examples.MyTaskResult
	run := e.triggerAndGet(t, ctx, examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 3, NoKey: true}, &got)
	require.Equal(t, int32(4), got.Attempt)
	e.requireRunIDs(t, ctx, "child-task", []string{
		e.childID(t, "child-task", run.RunID, 0, idempotency.ScopeRun, "once-ordinal", "child-task", "1"),
	})
}

// TestTasksMyTaskAttemptScope: scope attempt gives one child per attempt.
func TestTasksMyTaskAttemptScope(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	ctx := testCtx(t, 2*time.Minute)
	var got examples.MyTaskResult
	run := e.triggerAndGet(t, ctx, examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 3, Scope: idempotency.ScopeAttempt}, &got)
	require.Equal(t, int32(4), got.Attempt)
	var want []string
	for attempt := int32(1); attempt <= 4; attempt++ {
		want = append(want, e.childID(t, "child-task", run.RunID, attempt, idempotency.ScopeAttempt, examples.MyTaskKeyText))
	}
	e.requireRunIDs(t, ctx, "child-task", want)
}

// TestTasksGlobalKeySharedByTwoParents: two parents trigger child-task with
// the same global key at once: one child, both get its result.
func TestTasksGlobalKeySharedByTwoParents(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	ctx := testCtx(t, 2*time.Minute)
	runs := []*starter.Run{
		e.trigger(t, ctx, examples.MyTask.ID(), examples.MyTaskPayload{Scope: idempotency.ScopeGlobal}, starter.TriggerOptions{}),
		e.trigger(t, ctx, examples.MyTask.ID(), examples.MyTaskPayload{Scope: idempotency.ScopeGlobal}, starter.TriggerOptions{}),
	}
	results := make([]examples.MyTaskResult, len(runs))
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Get(ctx, &results[i])
		}()
	}
	wg.Wait()
	for i := range runs {
		require.NoError(t, errs[i])
	}
	require.Equal(t, results[0].Child, results[1].Child, "both parents get the one child's result")
	require.Contains(t, []any{runs[0].WorkflowID, runs[1].WorkflowID}, results[0].Child["parent"])
	e.requireRunIDs(t, ctx, "child-task", []string{e.childID(t, "child-task", "", 0, idempotency.ScopeGlobal, examples.MyTaskKeyText)})
}

// TestTasksActivityTriggerNoDuplicate: the activity of activity-trigger-task
// triggers child-task through the starter with a key it made
// (activities.CreateKey: run-scoped through the propagated run context) and
// fails 3 times: the 3 retries find the same run, one child in all.
func TestTasksActivityTriggerNoDuplicate(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	ctx := testCtx(t, 2*time.Minute)
	var got examples.TriggerChildOutput
	run := e.triggerAndGet(t, ctx, examples.ActivityTriggerTask.ID(), examples.ActivityTriggerPayload{FailAttempts: 3}, &got)
	// The key the activity made equals the one workflow code of the same
	// run makes: the run context reached the activity.
	childID := e.childID(t, "child-task", run.RunID, 0, idempotency.ScopeRun, "activity-child")
	require.Equal(t, childID, got.WorkflowID)
	require.Equal(t, int32(4), got.Attempt)
	require.True(t, got.Cached, "attempt 4 found the run attempt 1 started")
	require.Equal(t, map[string]any{"parent": run.WorkflowID}, got.Result)
	e.requireRunIDs(t, ctx, "child-task", []string{childID})
}

// TestTasksTriggerOutlivesParent: a child started with Trigger runs to
// completion after its parent has completed (parent close policy ABANDON).
func TestTasksTriggerOutlivesParent(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	ctx := testCtx(t, time.Minute)
	var childID string
	run := e.triggerAndGet(t, ctx, fireAndForget.ID(), struct{}{}, &childID)
	require.Equal(t, e.childID(t, "child-task", run.RunID, 0, idempotency.ScopeRun, "once-ordinal", "child-task", "1"), childID)
	var got map[string]any
	require.NoError(t, e.c.GetWorkflow(ctx, childID, "").Get(ctx, &got))
	require.Equal(t, map[string]any{"fire": "forget"}, got)
}

// TestTasksAttachToFailedRun: a parent that attaches to a run that failed
// gets that run's failure (not a failure of its own making), as the parent
// that started it does.
func TestTasksAttachToFailedRun(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	ctx := testCtx(t, time.Minute)
	first := e.trigger(t, ctx, failingParent.ID(), struct{}{}, starter.TriggerOptions{})
	firstErr := first.Get(ctx, nil)
	second := e.trigger(t, ctx, failingParent.ID(), struct{}{}, starter.TriggerOptions{})
	secondErr := second.Get(ctx, nil)
	for _, err := range []error{firstErr, secondErr} {
		require.Error(t, err)
		var types []string
		for u := err; u != nil; u = errors.Unwrap(u) {
			if appErr, ok := u.(*temporal.ApplicationError); ok {
				types = append(types, appErr.Type())
			}
		}
		require.Equal(t, []string{"RunError", "ChildNope"}, types, "%v", err)
	}
	e.requireRunIDs(t, ctx, failingChild.ID(), []string{e.childID(t, failingChild.ID(), "", 0, idempotency.ScopeGlobal, "fail")})
}

// TestTasksAttachRunNotFound: AttachRun gives up on a workflow ID that no
// run holds after NotFoundGrace, with a non-retryable error.
func TestTasksAttachRunNotFound(t *testing.T) {
	t.Parallel()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(shared.DiscardLogger())
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&workflows.RuntimeActivities{Client: newClient(t), NotFoundGrace: 500 * time.Millisecond})
	var a *workflows.RuntimeActivities
	_, err := env.ExecuteActivity(a.AttachRun, workflows.AttachInput{WorkflowID: unique("nobody")})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v", err)
	require.Equal(t, workflows.ErrTypeRunNotFound, appErr.Type())
	require.True(t, appErr.NonRetryable())
}
