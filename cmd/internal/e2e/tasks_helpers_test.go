package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/once-run/once"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// Test-only tasks, registered with the examples by every worker of these
// tests (in process, and the "worker" child process).
var (
	// fastChild is child-task with a 2s workflow task timeout, so that a
	// task held by a killed worker is retried quickly.
	fastChild = workflows.NewTask("fast-child", echoTask, workflows.TaskOptions{TaskTimeout: 2 * time.Second})

	// fireAndForget triggers child-task with Trigger and returns at once.
	fireAndForget = workflows.NewTask("fire-and-forget", func(ctx workflow.Context, _ struct{}) (string, error) {
		h, err := examples.ChildTask.Trigger(ctx, map[string]any{"fire": "forget"}, workflows.ChildOptions{})
		if err != nil {
			return "", err
		}
		return h.WorkflowID, nil
	}, workflows.TaskOptions{})

	// failingChild fails for good.
	failingChild = workflows.NewTask("failing-child", func(workflow.Context, struct{}) (string, error) {
		return "", temporal.NewNonRetryableApplicationError("failing-child fails", "ChildNope", nil)
	}, workflows.TaskOptions{})

	// failingRelease fails for good, and its task releases the key of a
	// failed run (once.FailureRelease).
	failingRelease = workflows.NewTask("failing-release", func(workflow.Context, struct{}) (string, error) {
		return "", temporal.NewNonRetryableApplicationError("failing-release fails", "ReleaseNope", nil)
	}, workflows.TaskOptions{OnFailure: once.FailureRelease})

	// failingParent waits for failingChild under the global key "fail".
	failingParent = workflows.NewTask("failing-parent", func(ctx workflow.Context, _ struct{}) (string, error) {
		return failingChild.TriggerAndWait(ctx, struct{}{}, workflows.ChildOptions{Key: idempotency.Parts{"fail"}, Scope: idempotency.ScopeGlobal})
	}, workflows.TaskOptions{})
)

// e2eTasks are the tasks the workers of these tests register.
func e2eTasks() []workflows.Definition {
	return append(examples.Tasks(), fastChild, fireAndForget, chaosParent, failingChild, failingRelease, failingParent, kitParent, kitChild)
}

// taskEnv is one test's environment: a unique Once environment with a
// starter, and (optionally) a worker in this process.
type taskEnv struct {
	env     string
	c       client.Client
	starter *starter.Client
}

// newTaskEnv makes a unique environment with a starter and, if withWorker,
// an in-process worker that is stopped at the end of the test.
func newTaskEnv(tb testing.TB, withWorker bool) *taskEnv {
	tb.Helper()
	e := &taskEnv{env: unique("t")}
	e.starter = newStarter(tb, starter.Options{Environment: e.env, Logger: shared.DiscardLogger()})
	e.c = e.starter.Temporal()
	if withWorker {
		w, err := worker.New(e.starter, worker.Options{
			Tasks: e2eTasks(), Logger: shared.DiscardLogger(),
		})
		require.NoError(tb, err)
		w.RegisterActivity(&examples.Activities{Starter: w.Starter()})
		require.False(tb, w.SearchAttributes(), "Once's search attributes are off by default")
		require.NoError(tb, w.Start())
		tb.Cleanup(w.Stop)
	}
	return e
}

// trigger starts task with payload under a fresh key and returns the run.
func (e *taskEnv) trigger(tb testing.TB, ctx context.Context, task string, payload any, opts starter.TriggerOptions) *starter.Run {
	tb.Helper()
	if opts.Key == nil {
		opts.Key = idempotency.Parts{unique("key")}
	}
	run, err := e.starter.Trigger(ctx, task, payload, opts)
	require.NoError(tb, err)
	require.False(tb, run.Cached)
	return run
}

// triggerAndGet starts task with payload under a fresh key, waits for the
// run to complete and decodes its result into result (nil to drop it).
func (e *taskEnv) triggerAndGet(tb testing.TB, ctx context.Context, task string, payload, result any) *starter.Run {
	tb.Helper()
	run := e.trigger(tb, ctx, task, payload, starter.TriggerOptions{})
	require.NoError(tb, run.Get(ctx, result))
	return run
}

// childID is the workflow ID of a child of task with key parts and scope,
// triggered by the run with first run ID runID at attempt.
func (e *taskEnv) childID(tb testing.TB, task, runID string, attempt int32, scope idempotency.Scope, parts ...string) string {
	tb.Helper()
	key, err := idempotency.Derive(idempotency.RunContext{RunID: runID, Attempt: attempt}, scope, parts...)
	require.NoError(tb, err)
	id, err := idempotency.WorkflowID(e.env, task, key)
	require.NoError(tb, err)
	return id
}

// runsOf lists every run (all IDs, all runs of each) of workflowType in the
// environment, by visibility.
func (e *taskEnv) runsOf(tb testing.TB, ctx context.Context, workflowType string) []*workflowpb.WorkflowExecutionInfo {
	tb.Helper()
	query := fmt.Sprintf("WorkflowType = '%s' AND TaskQueue = '%s'", workflowType, once.TaskQueue("", e.env))
	var out []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := e.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: srv.Namespace(), Query: query, PageSize: 1000, NextPageToken: token,
		})
		require.NoError(tb, err)
		out = append(out, resp.GetExecutions()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// requireRunIDs waits (bounded) until visibility lists exactly the workflow
// IDs want for workflowType, one run each, and still does a moment later:
// no duplicate ID, no second run of an ID.
func (e *taskEnv) requireRunIDs(tb testing.TB, ctx context.Context, workflowType string, want []string) {
	tb.Helper()
	want = append([]string(nil), want...)
	sort.Strings(want)
	ids := func() []string {
		var got []string
		for _, r := range e.runsOf(tb, ctx, workflowType) {
			got = append(got, r.GetExecution().GetWorkflowId())
		}
		sort.Strings(got)
		return got
	}
	eventually(tb, 15*time.Second, "visibility lists the expected "+workflowType+" runs", func() (bool, error) {
		got := ids()
		return len(got) >= len(want), nil
	})
	time.Sleep(300 * time.Millisecond)
	require.Equal(tb, want, ids(), "%s runs in %s", workflowType, e.env)
}

// memo decodes a run's memo as strings.
func memoStrings(tb testing.TB, m *commonpb.Memo) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for k, p := range m.GetFields() {
		var v string
		require.NoError(tb, converter.GetDefaultDataConverter().FromPayload(p, &v), k)
		out[k] = v
	}
	return out
}

// searchAttrStrings decodes a run's Keyword search attributes.
func searchAttrStrings(tb testing.TB, sa *commonpb.SearchAttributes) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for k, p := range sa.GetIndexedFields() {
		var v string
		if converter.GetDefaultDataConverter().FromPayload(p, &v) == nil {
			out[k] = v
		}
	}
	return out
}

// runHistory reads the whole history of one run ("" for the latest).
func runHistory(tb testing.TB, ctx context.Context, c client.Client, workflowID, runID string) *historypb.History {
	tb.Helper()
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(tb, err)
		h.Events = append(h.Events, ev)
	}
	return h
}

// workerOptionsForChaos are the SDK worker options of workers that get
// killed: a dead worker's sticky tasks move on after a second.
func workerOptionsForChaos() sdkworker.Options {
	return sdkworker.Options{StickyScheduleToStartTimeout: time.Second}
}
