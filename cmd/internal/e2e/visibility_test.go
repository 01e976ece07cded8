package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/devserver"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
)

// listIDs lists the workflow IDs (one per run) that query finds.
func listIDs(t *testing.T, ctx context.Context, c client.Client, query string) []string {
	t.Helper()
	var ids []string
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: srv.Namespace(), Query: query, PageSize: 100, NextPageToken: token,
		})
		require.NoError(t, err, query)
		for _, info := range resp.GetExecutions() {
			ids = append(ids, info.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return ids
		}
	}
}

// requireFinds waits (bounded) until query lists exactly want (workflow IDs,
// in any order).
func requireFinds(t *testing.T, ctx context.Context, c client.Client, query string, want ...string) {
	t.Helper()
	var got []string
	eventually(t, 20*time.Second, query, func() (bool, error) {
		got = listIDs(t, ctx, c, query)
		return len(got) == len(want), nil
	})
	require.ElementsMatch(t, want, got, query)
}

// TestVisibilityBuiltInQueries: task, environment and key are found with the
// search attributes every server has — the queries of the README and of
// starter.RunsQuery / KeyQuery — on the embedded SQLite server, and Once's
// runs carry no custom search attributes and only the memo entries that the
// workflow ID and type cannot tell.
func TestVisibilityBuiltInQueries(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	// A task no worker serves and no other test uses: its runs stay open.
	task := unique("vis")
	a, err := e.s.Trigger(ctx, task, nil, starter.TriggerOptions{Key: key("order-1")})
	require.NoError(t, err)
	b, err := e.s.Trigger(ctx, task, map[string]any{"n": 2}, starter.TriggerOptions{Key: key("order-2"), Strict: true})
	require.NoError(t, err)
	unkeyed, err := e.s.Trigger(ctx, task, nil, starter.TriggerOptions{Memo: map[string]any{"team": "billing"}})
	require.NoError(t, err)
	echo, err := e.s.TriggerAndWait(ctx, "echo", map[string]any{}, nil, starter.TriggerOptions{Key: key("order-1")})
	require.NoError(t, err)

	requireFinds(t, ctx, e.c, fmt.Sprintf("WorkflowType = '%s'", task), a.WorkflowID, b.WorkflowID, unkeyed.WorkflowID)
	requireFinds(t, ctx, e.c, fmt.Sprintf("WorkflowId STARTS_WITH '%s/'", e.env), a.WorkflowID, b.WorkflowID, unkeyed.WorkflowID, echo.WorkflowID)
	requireFinds(t, ctx, e.c, fmt.Sprintf("WorkflowId STARTS_WITH '%s/%s/'", e.env, task), a.WorkflowID, b.WorkflowID, unkeyed.WorkflowID)
	requireFinds(t, ctx, e.c, starter.KeyQuery(a.WorkflowID), a.WorkflowID)
	requireFinds(t, ctx, e.c, fmt.Sprintf("WorkflowId = '%s/%s/%s'", e.env, task, a.Key), a.WorkflowID)
	requireFinds(t, ctx, e.c, fmt.Sprintf("WorkflowType = '%s' AND WorkflowId STARTS_WITH '%s/' AND ExecutionStatus = 'Completed'", "echo", e.env), echo.WorkflowID)
	q, err := e.s.RunsQuery(task)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("WorkflowType = '%s' AND WorkflowId STARTS_WITH '%s/'", task, e.env), q)
	requireFinds(t, ctx, e.c, q, a.WorkflowID, b.WorkflowID, unkeyed.WorkflowID)

	runs, err := e.s.ListRuns(ctx, task, starter.ListOptions{})
	require.NoError(t, err)
	require.Len(t, runs, 3)
	byID := map[string]starter.RunSummary{}
	for _, r := range runs {
		byID[r.WorkflowID] = r
	}
	require.Equal(t, "order-1", byID[a.WorkflowID].KeyText)
	require.Equal(t, a.Key, byID[a.WorkflowID].Key)
	require.Equal(t, "global", byID[a.WorkflowID].Scope)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, byID[a.WorkflowID].Status)
	require.Empty(t, byID[unkeyed.WorkflowID].Key)
	limited, err := e.s.ListRuns(ctx, task, starter.ListOptions{Limit: 2})
	require.NoError(t, err)
	require.Len(t, limited, 2)

	// What the runs carry.
	memoAndSA := func(workflowID string) (map[string]string, map[string]string) {
		desc, err := e.c.DescribeWorkflowExecution(ctx, workflowID, "")
		require.NoError(t, err)
		info := desc.GetWorkflowExecutionInfo()
		return memoStrings(t, info.GetMemo()), searchAttrStrings(t, info.GetSearchAttributes())
	}
	memo, sa := memoAndSA(a.WorkflowID)
	for _, name := range once.SearchAttributes() {
		require.NotContains(t, sa, name, "no custom search attributes by default")
	}
	require.Equal(t, map[string]string{once.MemoKeyText: "order-1", once.MemoKeyScope: "global"}, memo,
		"a new key's memo: key text and scope; its TTL is in the start's request ID")
	info, err := e.s.Lookup(ctx, task, key("order-1"), starter.LookupOptions{})
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(idempotency.DefaultTTL), info.ExpiresAt, time.Minute, "Lookup derives the expiry")

	memo, _ = memoAndSA(b.WorkflowID)
	require.Equal(t, map[string]string{once.MemoKeyText: "order-2", once.MemoKeyScope: "global"}, memo,
		"strict mode: the payload hash is in the request ID too")
	hit, err := e.s.Trigger(ctx, task, map[string]any{"n": 3}, starter.TriggerOptions{Key: key("order-2"), Strict: true})
	require.ErrorIs(t, err, starter.ErrKeyReusedWithDifferentPayload)
	require.True(t, hit.Cached)

	memo, sa = memoAndSA(unkeyed.WorkflowID)
	require.Equal(t, map[string]string{"team": "billing"}, memo, "an unkeyed run: the caller's entries only")
	for _, name := range once.SearchAttributes() {
		require.NotContains(t, sa, name)
	}
}

// TestVisibilityRunsOfEarlierVersions: a run started as earlier versions of
// Once started them — memo with task and environment, Once's search
// attributes, and a request ID Once cannot read (so the starter decides from
// the memo) — keeps answering for its key, expires by its memo, resets, and
// is found both ways.
func TestVisibilityRunsOfEarlierVersions(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	legacy := func(k string, expiresAt time.Time) client.WorkflowRun {
		t.Helper()
		id, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, k)
		require.NoError(t, err)
		wid, err := idempotency.WorkflowID(e.env, "echo", id)
		require.NoError(t, err)
		run, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                    wid,
			TaskQueue:             once.TaskQueue("", e.env),
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			Memo: map[string]any{
				once.MemoTask: "echo", once.MemoEnvironment: e.env, once.MemoKeyText: k,
				once.MemoKeyScope: "global", once.MemoExpiresAt: expiresAt.UTC().Format(time.RFC3339),
			},
			TypedSearchAttributes: temporal.NewSearchAttributes(
				temporal.NewSearchAttributeKeyKeyword(once.SearchAttrTask).ValueSet("echo"),
				temporal.NewSearchAttributeKeyKeyword(once.SearchAttrEnvironment).ValueSet(e.env),
				temporal.NewSearchAttributeKeyKeyword(once.SearchAttrKey).ValueSet(string(id)),
			),
		}, "echo", map[string]any{"old": true})
		require.NoError(t, err)
		require.NoError(t, run.Get(ctx, nil))
		return run
	}

	live := legacy("old-live", time.Now().Add(time.Hour))
	hit, err := e.s.Trigger(ctx, "echo", map[string]any{"new": true}, starter.TriggerOptions{Key: key("old-live")})
	require.NoError(t, err)
	require.True(t, hit.Cached)
	require.Equal(t, live.GetRunID(), hit.RunID)
	info, err := e.s.Lookup(ctx, "echo", key("old-live"), starter.LookupOptions{})
	require.NoError(t, err)
	require.Equal(t, "old-live", info.KeyText)
	require.Equal(t, "global", info.Scope)
	require.WithinDuration(t, time.Now().Add(time.Hour), info.ExpiresAt, time.Minute)
	require.False(t, info.Expired)
	// Found by the built-in queries and, as before, by its search attributes.
	requireFinds(t, ctx, e.c, starter.KeyQuery(live.GetID()), live.GetID())
	requireFinds(t, ctx, e.c, fmt.Sprintf("%s = '%s'", once.SearchAttrKey, string(hit.Key)), live.GetID())

	expired := legacy("old-expired", time.Now().Add(-time.Minute))
	again, err := e.s.Trigger(ctx, "echo", map[string]any{"new": true}, starter.TriggerOptions{Key: key("old-expired")})
	require.NoError(t, err)
	require.False(t, again.Cached, "the old run's memo says its key expired")
	require.NotEqual(t, expired.GetRunID(), again.RunID)
	desc, err := e.c.DescribeWorkflowExecution(ctx, again.WorkflowID, again.RunID)
	require.NoError(t, err)
	memo := memoStrings(t, desc.GetWorkflowExecutionInfo().GetMemo())
	require.NotContains(t, memo, once.MemoTask, "the new run carries the new memo")
	for _, name := range once.SearchAttributes() {
		require.NotContains(t, desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields(), name)
	}

	reset := legacy("old-reset", time.Now().Add(time.Hour))
	require.NoError(t, e.s.ResetKey(ctx, "echo", key("old-reset"), starter.ResetOptions{}))
	fresh, err := e.s.Trigger(ctx, "echo", nil, starter.TriggerOptions{Key: key("old-reset")})
	require.NoError(t, err)
	require.False(t, fresh.Cached)
	require.NotEqual(t, reset.GetRunID(), fresh.RunID)
}

// TestVisibilityRetriedRunExpires: the run that answers for a key is a retry
// (another run of the chain, with a request ID the server made, and the
// first run's memo, which has no expiry): its expiry comes from the request
// ID of the chain's first run.
func TestVisibilityRetriedRunExpires(t *testing.T) {
	e := newTaskEnv(t, true)
	ctx := testCtx(t, time.Minute)
	ttl := 5 * time.Second
	opts := starter.TriggerOptions{Key: key("retried-expiry"), TTL: ttl}
	first, err := e.starter.TriggerAndWait(ctx, examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 1}, nil, opts)
	require.NoError(t, err)
	triggered := time.Now() // the key expires before triggered + ttl
	desc, err := e.c.DescribeWorkflowExecution(ctx, first.WorkflowID, "")
	require.NoError(t, err)
	require.NotEqual(t, first.RunID, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), "the last attempt is another run")
	require.Equal(t, map[string]string{once.MemoKeyText: "retried-expiry", once.MemoKeyScope: "global"},
		memoStrings(t, desc.GetWorkflowExecutionInfo().GetMemo()), "the retry carries the first run's memo")
	info, err := e.starter.Lookup(ctx, examples.MyTask.ID(), key("retried-expiry"), starter.LookupOptions{})
	require.NoError(t, err)
	require.WithinDuration(t, triggered.Add(ttl), info.ExpiresAt, 5*time.Second, "from the first run's request ID")
	require.Equal(t, first.RunID, info.RunID, "RunID is the run's stable ID, as the trigger returned it")
	require.Equal(t, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), info.CurrentRunID, "the attempt that holds the workflow ID")
	// Listed, each execution of the chain is a row of its own, with the
	// run's stable ID: the run the starter started (restarted by the
	// worker with the task's retry policy), then attempts 1 and 2.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		runs, err := e.starter.ListRuns(ctx, examples.MyTask.ID(), starter.ListOptions{})
		require.NoError(c, err)
		require.Len(c, runs, 3)
		var current, stable []string
		for _, r := range runs {
			current, stable = append(current, r.CurrentRunID), append(stable, r.RunID)
		}
		require.Contains(c, current, first.RunID)
		require.Contains(c, current, info.CurrentRunID)
		require.Equal(c, []string{first.RunID, first.RunID, first.RunID}, stable)
	}, 10*time.Second, 200*time.Millisecond)

	hit, err := e.starter.Trigger(ctx, examples.MyTask.ID(), examples.MyTaskPayload{}, opts)
	require.NoError(t, err)
	if time.Since(triggered) < ttl/2 { // a loaded machine may have taken longer
		require.True(t, hit.Cached, "within the TTL")
	}
	time.Sleep(time.Until(triggered.Add(ttl + 200*time.Millisecond)))
	next, err := e.starter.Trigger(ctx, examples.MyTask.ID(), examples.MyTaskPayload{}, opts)
	require.NoError(t, err)
	require.False(t, next.Cached, "expired: the first run's TTL")
	require.NotEqual(t, first.RunID, next.RunID)
}

// TestVisibilitySearchAttributesOption: asked for, Once's search attributes
// are set by the starter and on children, where the namespace has them; on
// a namespace without them the starter starts without them.
func TestVisibilitySearchAttributesOption(t *testing.T) {
	e := newTaskEnv(t, false)
	ctx := testCtx(t, 2*time.Minute)
	s, err := e.starter.With(starter.Options{Environment: e.env, SearchAttributes: true})
	require.NoError(t, err)
	ws, err := e.starter.With(starter.Options{Environment: e.env})
	require.NoError(t, err)
	w, err := worker.New(ws, worker.Options{
		Tasks: e2eTasks(), SearchAttributes: worker.SearchAttributesAuto,
	})
	require.NoError(t, err)
	require.True(t, w.SearchAttributes(), "the embedded server registers them")
	w.RegisterActivity(&examples.Activities{Starter: w.Starter()})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	run, err := s.TriggerAndWait(ctx, examples.MyTask.ID(), examples.MyTaskPayload{}, nil, starter.TriggerOptions{Key: key("with-sa")})
	require.NoError(t, err)
	// my-task has a retry policy, which the starter does not send: the
	// worker restarts the run once (continue-as-new), and both runs of the
	// key carry the search attributes.
	requireFinds(t, ctx, e.c, fmt.Sprintf("%s = '%s'", once.SearchAttrKey, string(run.Key)), run.WorkflowID, run.WorkflowID)
	childID := e.childID(t, "child-task", run.RunID, 0, idempotency.ScopeRun, examples.MyTaskKeyText)
	desc, err := e.c.DescribeWorkflowExecution(ctx, childID, "")
	require.NoError(t, err)
	sa := searchAttrStrings(t, desc.GetWorkflowExecutionInfo().GetSearchAttributes())
	require.Equal(t, map[string]string{
		once.SearchAttrTask: "child-task", once.SearchAttrEnvironment: e.env, once.SearchAttrKey: childID[len(childID)-idempotency.KeyLen:],
	}, sa)
	requireFinds(t, ctx, e.c, fmt.Sprintf("%s = '%s' AND %s = 'child-task'", once.SearchAttrEnvironment, e.env, once.SearchAttrTask), childID)

	// A namespace without them: the option is ignored, the start works.
	bare, err := devserver.Start(devserver.Options{SearchAttributes: map[string]enumspb.IndexedValueType{}})
	require.NoError(t, err)
	defer func() { require.NoError(t, bare.Stop()) }()
	s = mustDialStarter(t, client.Options{HostPort: bare.Address(), Namespace: bare.Namespace()}, starter.Options{Environment: e.env, SearchAttributes: true})
	c := s.Temporal()
	plain, err := s.Trigger(ctx, "echo", nil, starter.TriggerOptions{Key: key("no-sa")})
	require.NoError(t, err)
	require.False(t, plain.Cached)
	ok, err := starter.SearchAttributesRegistered(ctx, c, bare.Namespace())
	require.NoError(t, err)
	require.False(t, ok)
}

// TestCLIDescribeList: describe without --key lists the task's runs in the
// environment, with the built-in query; with --key it prints the query of
// every run of the key.
func TestCLIDescribeList(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	for _, k := range []string{"l1", "l2"} {
		requireOK(t, cli(t, e.env, "", "trigger", "echo", "--key", k, "--wait"))
	}
	requireOK(t, cli(t, e.env, "", "trigger", "whoami", "--key", "other", "--wait"))
	var r cliResult
	eventually(t, 20*time.Second, "two echo runs listed", func() (bool, error) {
		r = cli(t, e.env, "", "describe", "echo", "--json")
		return r.code == 0 && strings.Count(r.stdout, "\n") == 2, nil
	})
	var texts []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		item := decodeJSON[struct {
			WorkflowID string `json:"workflowId"`
			KeyText    string `json:"keyText"`
			Status     string `json:"status"`
		}](t, line)
		require.True(t, strings.HasPrefix(item.WorkflowID, e.env+"/echo/"), item.WorkflowID)
		require.Equal(t, "completed", item.Status)
		texts = append(texts, item.KeyText)
	}
	require.ElementsMatch(t, []string{"l1", "l2"}, texts)

	r = cli(t, e.env, "", "describe", "echo")
	requireOK(t, r)
	require.Contains(t, r.stdout, fmt.Sprintf("WorkflowType = 'echo' AND WorkflowId STARTS_WITH '%s/'", e.env))
	require.Contains(t, r.stdout, "l1")

	r = cli(t, e.env, "", "describe", "echo", "--key", "l1", "--json")
	requireOK(t, r)
	d := decodeJSON[struct {
		WorkflowID string `json:"workflowId"`
		Query      string `json:"query"`
	}](t, r.stdout)
	require.Equal(t, "WorkflowId = '"+d.WorkflowID+"'", d.Query)
	requireOneLineError(t, cli(t, e.env, "", "describe", "echo", "--limit", "0"), 2)
}
