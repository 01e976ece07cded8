package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/once-run/once"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// Test tasks for the starter's server semantics. echoTask is also the
// workflow of the Once tasks fast-child and cv-leaf.
func echoTask(_ workflow.Context, p map[string]any) (map[string]any, error) { return p, nil }

func failTask(_ workflow.Context, _ map[string]any) (string, error) {
	return "", temporal.NewNonRetryableApplicationError("boom", "TestFailure", nil)
}

// sleepyTask runs until signalled "finish" (or canceled).
func sleepyTask(ctx workflow.Context, _ map[string]any) (string, error) {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, "finish"), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
	return "finished", ctx.Err()
}

// sleepyOneSecond is sleepy with a run timeout of a second: a task's
// timeouts are its own, so a run of it started without them (by the
// starter) is restarted with them, and then times out.
var sleepyOneSecond = workflows.NewTask("sleepy-1s", sleepyTask, workflows.TaskOptions{RunTimeout: time.Second})

// envTask answers with the environment of the worker that ran it.
func envTask(env string) func(workflow.Context, map[string]any) (string, error) {
	return func(workflow.Context, map[string]any) (string, error) { return env, nil }
}

// starterEnv is a fresh environment with a worker for the test tasks and a
// starter client in it.
type starterEnv struct {
	env string
	c   client.Client
	s   *starter.Client
}

func newStarterEnv(t *testing.T, opts starter.Options) *starterEnv {
	t.Helper()
	env := unique("env")
	opts.Environment = env
	s := newStarter(t, opts)
	c := s.Temporal()
	w := sdkworker.New(c, once.TaskQueue("", env), sdkworker.Options{})
	for name, fn := range map[string]any{"echo": echoTask, "fail": failTask, "sleepy": sleepyTask, "whoami": envTask(env)} {
		w.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	}
	sleepyOneSecond.Register(w, workflows.Runtime{Environment: env})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return &starterEnv{env: env, c: c, s: s}
}

// countRuns counts, through visibility, the executions that match query (all
// runs, marker runs included), waiting until the count is want or the time
// (60s: visibility lags behind a cluster that just recovered) is up.
func countRuns(t *testing.T, c client.Client, query string, want int64) {
	t.Helper()
	var got int64
	eventually(t, 60*time.Second, fmt.Sprintf("count(%s) == %d", query, want), func() (bool, error) {
		resp, err := c.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			return false, err
		}
		got = resp.GetCount()
		return got == want, nil
	})
}

func runsOf(workflowID string) string { return fmt.Sprintf("WorkflowId = '%s'", workflowID) }

// runsInEnv lists an environment's runs with a built-in search attribute:
// Once's runs carry no custom ones by default.
func runsInEnv(env string) string {
	return fmt.Sprintf("WorkflowId STARTS_WITH '%s/'", env)
}

func key(parts ...string) idempotency.Parts { return idempotency.Parts(parts) }

func TestTriggerNewKeyStartsRun(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	run, err := e.s.Trigger(ctx, "echo", map[string]any{"n": 1}, starter.TriggerOptions{Key: key("k1")})
	require.NoError(t, err)
	require.False(t, run.Cached)
	wantKey, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "k1")
	require.NoError(t, err)
	require.Equal(t, e.env+"/echo/"+string(wantKey), run.WorkflowID)
	var got map[string]any
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, map[string]any{"n": float64(1)}, got)

	desc, err := e.c.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
	require.NoError(t, err)
	require.Equal(t, run.RunID, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	require.Equal(t, once.TaskQueue("", e.env), desc.GetWorkflowExecutionInfo().GetTaskQueue())
	info, err := e.s.Lookup(ctx, "echo", key("k1"), starter.LookupOptions{})
	require.NoError(t, err)
	require.Equal(t, "k1", info.KeyText)
	require.Equal(t, "global", info.Scope)
	require.WithinDuration(t, time.Now().Add(idempotency.DefaultTTL), info.ExpiresAt, time.Minute)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, info.Status)
	countRuns(t, e.c, runsOf(run.WorkflowID), 1)
}

func TestTriggerRunningIsCached(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	first, err := e.s.Trigger(ctx, "sleepy", nil, starter.TriggerOptions{Key: key("running")})
	require.NoError(t, err)
	second, err := e.s.Trigger(ctx, "sleepy", nil, starter.TriggerOptions{Key: key("running")})
	require.NoError(t, err)
	require.False(t, first.Cached)
	require.True(t, second.Cached)
	require.Equal(t, first.RunID, second.RunID)
	require.NoError(t, e.c.SignalWorkflow(ctx, first.WorkflowID, "", "finish", nil))
	var got string
	require.NoError(t, second.Get(ctx, &got))
	require.Equal(t, "finished", got)
	countRuns(t, e.c, runsOf(first.WorkflowID), 1)
}

func TestTriggerCompletedIsCachedWithResult(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	var first map[string]any
	r1, err := e.s.TriggerAndWait(ctx, "echo", map[string]any{"v": "a"}, &first, starter.TriggerOptions{Key: key("done")})
	require.NoError(t, err)
	require.False(t, r1.Cached)
	var second map[string]any
	r2, err := e.s.TriggerAndWait(ctx, "echo", map[string]any{"v": "b"}, &second, starter.TriggerOptions{Key: key("done")})
	require.NoError(t, err)
	require.True(t, r2.Cached)
	require.Equal(t, r1.RunID, r2.RunID)
	require.Equal(t, map[string]any{"v": "a"}, second, "a cached run's result is the original run's")
	countRuns(t, e.c, runsOf(r1.WorkflowID), 1)
}

// closeAs drives a fresh keyed run of sleepy (or fail, or sleepy-1s) to a
// closed status.
func closeAs(t *testing.T, e *starterEnv, ctx context.Context, status enumspb.WorkflowExecutionStatus, k string) *starter.Run {
	t.Helper()
	task, opts := "sleepy", starter.TriggerOptions{Key: key(k)}
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		task = "fail"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		task = sleepyOneSecond.ID()
	}
	run, err := e.s.Trigger(ctx, task, nil, opts)
	require.NoError(t, err)
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		require.NoError(t, e.c.CancelWorkflow(ctx, run.WorkflowID, ""))
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		require.NoError(t, e.c.TerminateWorkflow(ctx, run.WorkflowID, "", "test"))
	}
	require.Error(t, run.Get(ctx, nil))
	desc, err := e.c.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
	require.NoError(t, err)
	require.Equal(t, status, desc.GetWorkflowExecutionInfo().GetStatus())
	return run
}

func TestTriggerClosedUnsuccessfully(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	for _, status := range []enumspb.WorkflowExecutionStatus{
		enumspb.WORKFLOW_EXECUTION_STATUS_FAILED,
		enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
		enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED,
		enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
	} {
		t.Run(status.String(), func(t *testing.T) {
			ctx := testCtx(t, time.Minute)
			k := "closed-" + status.String()
			old := closeAs(t, e, ctx, status, k)
			task := old.Task

			// Default: the closed run answers for the key, failure and all.
			cached, err := e.s.Trigger(ctx, task, nil, starter.TriggerOptions{Key: key(k)})
			require.NoError(t, err)
			require.True(t, cached.Cached)
			require.Equal(t, old.RunID, cached.RunID)
			require.Error(t, cached.Get(ctx, nil))

			// RetryFailed: a new run.
			retried, err := e.s.Trigger(ctx, task, nil, starter.TriggerOptions{Key: key(k), RetryFailed: true})
			require.NoError(t, err)
			require.False(t, retried.Cached)
			require.NotEqual(t, old.RunID, retried.RunID)
			require.Equal(t, old.WorkflowID, retried.WorkflowID)
			runs := int64(2)
			if task == sleepyOneSecond.ID() {
				runs = 4 // each run restarted once by the task, with its run timeout
			}
			countRuns(t, e.c, runsOf(old.WorkflowID), runs)
			if task == "sleepy" {
				require.NoError(t, e.c.TerminateWorkflow(ctx, retried.WorkflowID, retried.RunID, "test cleanup"))
			}
		})
	}
}

func TestTriggerRetryFailedKeepsSuccessfulRun(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	r1, err := e.s.TriggerAndWait(ctx, "echo", map[string]any{}, nil, starter.TriggerOptions{Key: key("ok")})
	require.NoError(t, err)
	r2, err := e.s.Trigger(ctx, "echo", map[string]any{}, starter.TriggerOptions{Key: key("ok"), RetryFailed: true})
	require.NoError(t, err)
	require.True(t, r2.Cached)
	require.Equal(t, r1.RunID, r2.RunID)
}

func TestTriggerExpiredKeyStartsOneNewRun(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	ttl := 2 * time.Second
	opts := starter.TriggerOptions{Key: key("expiring"), TTL: ttl}
	old, err := e.s.TriggerAndWait(ctx, "echo", map[string]any{"gen": 1}, nil, opts)
	require.NoError(t, err)
	hit, err := e.s.Trigger(ctx, "echo", map[string]any{"gen": 2}, opts)
	require.NoError(t, err)
	require.True(t, hit.Cached, "within the TTL")
	time.Sleep(ttl + 100*time.Millisecond)

	info, err := e.s.Lookup(ctx, "echo", key("expiring"), starter.LookupOptions{})
	require.NoError(t, err)
	require.True(t, info.Expired)

	// 32 callers at the same moment: exactly one new run, all see it.
	requireOneNewRun(t, ctx, e, opts, old, "every caller sees the same new run")
	countRuns(t, e.c, runsOf(old.WorkflowID), 2)
}

// requireOneNewRun releases 32 triggers of echo with opts at once and
// requires that all get one run, not old: msg says why there must be one.
func requireOneNewRun(t *testing.T, ctx context.Context, e *starterEnv, opts starter.TriggerOptions, old *starter.Run, msg string) {
	t.Helper()
	runIDs := triggerConcurrently(t, ctx, e, 32, "echo", opts)
	require.Len(t, runIDs, 1, msg)
	for id := range runIDs {
		require.NotEqual(t, old.RunID, id)
	}
}

// triggerConcurrently releases n triggers at once and returns the set of run
// IDs they got.
func triggerConcurrently(t *testing.T, ctx context.Context, e *starterEnv, n int, task string, opts starter.TriggerOptions) map[string]int {
	t.Helper()
	var (
		mu     sync.Mutex
		runIDs = map[string]int{}
		errs   []error
		wg     sync.WaitGroup
		gate   = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			run, err := e.s.Trigger(ctx, task, map[string]any{}, opts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			runIDs[run.RunID]++
		}()
	}
	close(gate)
	wg.Wait()
	require.Empty(t, errs)
	return runIDs
}

func TestResetKey(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	opts := starter.TriggerOptions{Key: key("to-reset")}
	var out map[string]any
	old, err := e.s.TriggerAndWait(ctx, "echo", map[string]any{"gen": 1}, &out, opts)
	require.NoError(t, err)

	require.NoError(t, e.s.ResetKey(ctx, "echo", key("to-reset"), starter.ResetOptions{}))
	info, err := e.s.Lookup(ctx, "echo", key("to-reset"), starter.LookupOptions{})
	require.NoError(t, err)
	require.True(t, info.Reset)

	requireOneNewRun(t, ctx, e, opts, old, "exactly one new run after a reset")
	// old run + reset marker + one new run
	countRuns(t, e.c, runsOf(old.WorkflowID), 3)
	countRuns(t, e.c, runsOf(old.WorkflowID)+" AND ExecutionStatus = 'Completed'", 2)

	// The old run's history stays readable.
	var oldOut map[string]any
	require.NoError(t, e.c.GetWorkflow(ctx, old.WorkflowID, old.RunID).Get(ctx, &oldOut))
	require.Equal(t, map[string]any{"gen": float64(1)}, oldOut)

	// Unknown key.
	err = e.s.ResetKey(ctx, "echo", key("never-triggered"), starter.ResetOptions{})
	require.ErrorIs(t, err, starter.ErrNotFound)
}

func TestResetKeyOfRunningRun(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	opts := starter.TriggerOptions{Key: key("busy")}
	old, err := e.s.Trigger(ctx, "sleepy", nil, opts)
	require.NoError(t, err)

	err = e.s.ResetKey(ctx, "sleepy", key("busy"), starter.ResetOptions{})
	require.ErrorIs(t, err, starter.ErrResetRunning)
	desc, err := e.c.DescribeWorkflowExecution(ctx, old.WorkflowID, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus(), "a refused reset changes nothing")

	require.NoError(t, e.s.ResetKey(ctx, "sleepy", key("busy"), starter.ResetOptions{Terminate: true}))
	desc, err = e.c.DescribeWorkflowExecution(ctx, old.WorkflowID, old.RunID)
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, desc.GetWorkflowExecutionInfo().GetStatus())

	fresh, err := e.s.Trigger(ctx, "sleepy", nil, opts)
	require.NoError(t, err)
	require.False(t, fresh.Cached)
	require.NotEqual(t, old.RunID, fresh.RunID)
	require.NoError(t, e.c.TerminateWorkflow(ctx, fresh.WorkflowID, fresh.RunID, "test cleanup"))
}

// TestConcurrentTriggersMakeOneRunPerKey: 64 goroutines each trigger the same
// 100 keys 10 times; the server ends up with exactly 100 runs and every
// caller of a key saw the same run.
func TestConcurrentTriggersMakeOneRunPerKey(t *testing.T) {
	const goroutines, keys = 64, 100
	repeats := 10
	if embedded == nil {
		// On a cluster every start crosses three processes and PostgreSQL:
		// fewer rounds, the same 64 callers racing on each of the 100 keys.
		repeats = 4
	}
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, 8*time.Minute)
	var (
		mu    sync.Mutex
		seen  = map[int]map[string]bool{}
		fails []error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < repeats; r++ {
				for i := 0; i < keys; i++ {
					k := (i + g) % keys // spread the goroutines over the keys
					run, err := e.s.Trigger(ctx, "sleepy", nil, starter.TriggerOptions{Key: key("k", fmt.Sprint(k))})
					mu.Lock()
					if err != nil {
						fails = append(fails, err)
					} else {
						if seen[k] == nil {
							seen[k] = map[string]bool{}
						}
						seen[k][run.RunID] = true
					}
					mu.Unlock()
				}
			}
		}(g)
	}
	wg.Wait()
	t.Logf("%d triggers in %s", goroutines*keys*repeats, time.Since(start).Round(time.Millisecond))
	require.Empty(t, fails, "%d of %d triggers failed; the first: %v", len(fails), goroutines*keys*repeats, fails[:min(len(fails), 5)])
	require.Len(t, seen, keys)
	for k, ids := range seen {
		require.Len(t, ids, 1, "key %d: callers saw %d runs", k, len(ids))
	}
	countRuns(t, e.c, runsInEnv(e.env), keys)
	// Stop the runs so they do not outlive the test.
	for k := 0; k < keys; k++ {
		k := k
		info, err := e.s.Lookup(ctx, "sleepy", key("k", fmt.Sprint(k)), starter.LookupOptions{})
		require.NoError(t, err)
		require.NoError(t, e.c.TerminateWorkflow(ctx, info.WorkflowID, info.CurrentRunID, "test cleanup"))
	}
}

func TestBatchTrigger(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	items := []starter.BatchItem{
		{Payload: map[string]any{"i": 0}},
		{Payload: map[string]any{"i": 1}, Options: starter.TriggerOptions{Key: key("same")}},
		{Payload: make(chan int)}, // cannot be encoded
		{Payload: map[string]any{"i": 3}, Options: starter.TriggerOptions{Key: key("same")}},
		{Payload: map[string]any{"i": 4}},
	}
	opts := starter.BatchOptions{BatchKey: key("batch-1"), Parallelism: 4}
	res, err := e.s.BatchTriggerAndWait(ctx, "echo", items, opts)
	require.NoError(t, err)
	require.Len(t, res, len(items))
	require.ErrorIs(t, res[2].Err, idempotency.ErrPayloadNotSerializable)
	require.Nil(t, res[2].Run)
	for _, i := range []int{0, 1, 3, 4} {
		require.NoError(t, res[i].Err, "item %d", i)
		var got map[string]any
		require.NoError(t, res[i].Run.Get(ctx, &got))
		if i == 1 || i == 3 {
			// Items 1 and 3 share a key: whichever started first holds the run.
			require.Contains(t, []any{float64(1), float64(3)}, got["i"])
		} else {
			require.Equal(t, map[string]any{"i": float64(i)}, got, "results in input order")
		}
	}
	require.Equal(t, res[1].Run.RunID, res[3].Run.RunID)
	require.True(t, res[1].Run.Cached != res[3].Run.Cached, "one of two items with the same key is cached")
	countRuns(t, e.c, runsInEnv(e.env), 3)

	again, err := e.s.BatchTrigger(ctx, "echo", items, opts)
	require.NoError(t, err)
	for _, i := range []int{0, 1, 3, 4} {
		require.NoError(t, again[i].Err)
		require.True(t, again[i].Run.Cached, "item %d of a repeated batch", i)
		require.Equal(t, res[i].Run.RunID, again[i].Run.RunID)
	}
	countRuns(t, e.c, runsInEnv(e.env), 3)

	// A bad batch key starts nothing.
	_, err = e.s.BatchTrigger(ctx, "echo", items, starter.BatchOptions{BatchKey: key("")})
	require.ErrorIs(t, err, idempotency.ErrEmptyKey)
}

func TestStrictMode(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	opts := starter.TriggerOptions{Key: key("strict"), Strict: true}
	type ordered struct {
		B int    `json:"b"`
		A string `json:"a"`
	}
	first, err := e.s.Trigger(ctx, "echo", ordered{B: 2, A: "x"}, opts)
	require.NoError(t, err)
	same, err := e.s.Trigger(ctx, "echo", map[string]any{"a": "x", "b": 2}, opts)
	require.NoError(t, err, "same payload, other field order")
	require.True(t, same.Cached)
	require.Equal(t, first.RunID, same.RunID)

	_, err = e.s.Trigger(ctx, "echo", map[string]any{"a": "y", "b": 2}, opts)
	require.ErrorIs(t, err, starter.ErrKeyReusedWithDifferentPayload)

	// Strict against a run started without strict mode: compared through
	// the run's history.
	lax, err := e.s.Trigger(ctx, "echo", map[string]any{"a": 1}, starter.TriggerOptions{Key: key("lax")})
	require.NoError(t, err)
	hit, err := e.s.Trigger(ctx, "echo", map[string]any{"a": 1}, starter.TriggerOptions{Key: key("lax"), Strict: true})
	require.NoError(t, err)
	require.Equal(t, lax.RunID, hit.RunID)
	_, err = e.s.Trigger(ctx, "echo", map[string]any{"a": 2}, starter.TriggerOptions{Key: key("lax"), Strict: true})
	require.ErrorIs(t, err, starter.ErrKeyReusedWithDifferentPayload)
}

func TestEnvironmentsAreIsolated(t *testing.T) {
	dev := newStarterEnv(t, starter.Options{})
	prod := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	var fromDev, fromProd string
	rd, err := dev.s.TriggerAndWait(ctx, "whoami", nil, &fromDev, starter.TriggerOptions{Key: key("shared-key")})
	require.NoError(t, err)
	rp, err := prod.s.TriggerAndWait(ctx, "whoami", nil, &fromProd, starter.TriggerOptions{Key: key("shared-key")})
	require.NoError(t, err)
	require.False(t, rd.Cached)
	require.False(t, rp.Cached, "the same key in another environment is another run")
	require.NotEqual(t, rd.WorkflowID, rp.WorkflowID)
	require.Equal(t, dev.env, fromDev, "ran on the dev worker")
	require.Equal(t, prod.env, fromProd, "ran on the prod worker")
}

func TestBadInputStartsNothing(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	tests := []struct {
		name    string
		task    string
		payload any
		opts    starter.TriggerOptions
		want    error
	}{
		{"empty key", "echo", nil, starter.TriggerOptions{Key: key("")}, idempotency.ErrEmptyKey},
		{"no parts", "echo", nil, starter.TriggerOptions{Key: key()}, idempotency.ErrEmptyKey},
		{"key too long", "echo", nil, starter.TriggerOptions{Key: key(strings.Repeat("x", 2049))}, idempotency.ErrKeyTooLong},
		{"malformed Key", "echo", nil, starter.TriggerOptions{Key: idempotency.Key("abc")}, idempotency.ErrInvalidKey},
		{"bad scope", "echo", nil, starter.TriggerOptions{Key: key("k"), Scope: "forever"}, idempotency.ErrInvalidScope},
		{"negative TTL", "echo", nil, starter.TriggerOptions{Key: key("k"), TTL: -time.Second}, idempotency.ErrInvalidTTL},
		{"bad task ID", "no spaces allowed", nil, starter.TriggerOptions{Key: key("k")}, idempotency.ErrInvalidTaskID},
		{"empty task ID", "", nil, starter.TriggerOptions{}, idempotency.ErrInvalidTaskID},
		{"payload not encodable", "echo", func() {}, starter.TriggerOptions{Key: key("k")}, idempotency.ErrPayloadNotSerializable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := e.s.Trigger(ctx, tt.task, tt.payload, tt.opts)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, run)
		})
	}
	_, err := e.s.With(starter.Options{Environment: "Prod!"})
	require.ErrorIs(t, err, idempotency.ErrInvalidEnvironment)
	_, err = starter.Dial(ctx, sharedClientOptions(), starter.Options{Environment: "Prod!"})
	require.ErrorIs(t, err, idempotency.ErrInvalidEnvironment)
	// Nothing reached the server. (A start of this env would be visible.)
	time.Sleep(500 * time.Millisecond)
	countRuns(t, e.c, runsInEnv(e.env), 0)
}

func TestServerUnreachable(t *testing.T) {
	s, err := starter.NewLazy(client.Options{HostPort: "127.0.0.1:1", Logger: shared.DiscardLogger()}, starter.Options{RequestTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer s.Close()
	start := time.Now()
	_, err = s.Trigger(context.Background(), "echo", nil, starter.TriggerOptions{Key: key("k")})
	require.ErrorIs(t, err, starter.ErrServerUnreachable)
	require.Less(t, time.Since(start), 20*time.Second)
	require.False(t, errors.Is(err, context.Canceled))
}

// TestTriggerCachedHitOnRetriedRun: a key whose run needed several attempts
// (each attempt a new run ID) still answers with the chain's first run ID,
// and its result is the last attempt's.
func TestTriggerCachedHitOnRetriedRun(t *testing.T) {
	e := newTaskEnv(t, true)
	ctx := testCtx(t, time.Minute)
	opts := starter.TriggerOptions{Key: key("retried")}
	var first examples.MyTaskResult
	r1, err := e.starter.TriggerAndWait(ctx, examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 2}, &first, opts)
	require.NoError(t, err)
	require.Equal(t, int32(3), first.Attempt)
	desc, err := e.c.DescribeWorkflowExecution(ctx, r1.WorkflowID, "")
	require.NoError(t, err)
	require.NotEqual(t, r1.RunID, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(), "the last attempt is another run")

	var again examples.MyTaskResult
	r2, err := e.starter.TriggerAndWait(ctx, examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 2}, &again, opts)
	require.NoError(t, err)
	require.True(t, r2.Cached)
	require.Equal(t, r1.RunID, r2.RunID, "the stable run ID is the first run's")
	require.Equal(t, first, again)
}
