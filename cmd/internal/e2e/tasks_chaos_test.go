package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

const childEnvEnv = "ONCE_E2E_ENV" // worker: the Once environment to serve

// chaosParent triggers fast-child five ways, with a pause in the middle, and
// fails its first FailAttempts attempts: a fire-and-forget ordinal child, a
// keyed child it waits for, (pause) an ordinal child it waits for, and a
// batch of two under a batch key.
var chaosParent = workflows.NewTask("chaos-parent", func(ctx workflow.Context, p chaosPayload) (int, error) {
	if _, err := fastChild.Trigger(ctx, map[string]any{"n": 0}, workflows.ChildOptions{}); err != nil {
		return 0, err
	}
	key, err := workflows.CreateKey(ctx, "chaos")
	if err != nil {
		return 0, err
	}
	if _, err := fastChild.TriggerAndWait(ctx, map[string]any{"n": 1}, workflows.ChildOptions{Key: key}); err != nil {
		return 0, err
	}
	// The embedded server fires timers with about 1s granularity.
	if err := workflow.Sleep(ctx, 100*time.Millisecond); err != nil {
		return 0, err
	}
	if _, err := fastChild.TriggerAndWait(ctx, map[string]any{"n": 2}, workflows.ChildOptions{}); err != nil {
		return 0, err
	}
	res, err := fastChild.BatchTriggerAndWait(ctx, []workflows.ChildItem[map[string]any]{
		{Payload: map[string]any{"n": 3}}, {Payload: map[string]any{"n": 4}},
	}, workflows.ChildBatchOptions{BatchKey: idempotency.Parts{"batch"}})
	if err != nil {
		return 0, err
	}
	for _, r := range res {
		if r.Err != nil {
			return 0, r.Err
		}
	}
	if info := workflow.GetInfo(ctx); info.Attempt <= p.FailAttempts {
		return 0, temporal.NewApplicationError(fmt.Sprintf("attempt %d fails on purpose", info.Attempt), examples.ErrTypeExampleFailure)
	}
	return 5, nil
}, workflows.TaskOptions{
	RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 5, InitialInterval: 200 * time.Millisecond, MaximumInterval: time.Second},
	TaskTimeout: 2 * time.Second,
})

type chaosPayload struct {
	FailAttempts int32 `json:"failAttempts"`
}

// chaosChildIDs are the fast-child workflow IDs a chaos-parent run makes.
func chaosChildIDs(tb testing.TB, e *taskEnv, runID string) []string {
	tb.Helper()
	batchKey, err := idempotency.Derive(idempotency.RunContext{RunID: runID}, idempotency.ScopeRun, "batch")
	require.NoError(tb, err)
	return []string{
		e.childID(tb, "fast-child", runID, 0, idempotency.ScopeRun, "once-ordinal", "fast-child", "1"),
		e.childID(tb, "fast-child", runID, 0, idempotency.ScopeRun, "chaos"),
		e.childID(tb, "fast-child", runID, 0, idempotency.ScopeRun, "once-ordinal", "fast-child", "2"),
		e.childID(tb, "fast-child", "", 0, idempotency.ScopeGlobal, string(batchKey), "0"),
		e.childID(tb, "fast-child", "", 0, idempotency.ScopeGlobal, string(batchKey), "1"),
	}
}

// runWorkerChild is the "worker" child mode: a worker of the environment
// childEnvEnv on the server at childAddrEnv, until SIGTERM or SIGKILL.
func runWorkerChild() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s, err := starter.Dial(ctx, client.Options{HostPort: os.Getenv(childAddrEnv), Logger: shared.DiscardLogger()},
		starter.Options{Environment: os.Getenv(childEnvEnv), Logger: shared.DiscardLogger()})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child worker: dial:", err)
		return 1
	}
	defer s.Close()
	w, err := worker.New(s, worker.Options{
		Tasks:                  e2eTasks(),
		Logger:                 shared.DiscardLogger(),
		AttachHeartbeatTimeout: 2 * time.Second,
		Worker:                 workerOptionsForChaos(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child worker:", err)
		return 1
	}
	w.RegisterActivity(&examples.Activities{Starter: w.Starter()})
	if err := w.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "child worker: start:", err)
		return 1
	}
	readyUntilSignal(w.TaskQueue())
	w.Stop()
	return 0
}

// TestTasksWorkerSIGKILL kills the worker (a child process) with SIGKILL in
// the middle of parents, 20 rounds: each round starts a worker, triggers
// three chaos-parent runs (the first attempt of each fails on purpose),
// kills the worker after a random 0.1–2.5s (a parent takes about 2.5s), starts a new one and waits for
// the parents. Every parent completes and has exactly its five children,
// and the environment holds no other child run.
func TestTasksWorkerSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("about 100s: skipped with -short")
	}
	const rounds, parentsPerRound = 20, 3
	e := newTaskEnv(t, false)
	ctx := testCtx(t, 10*time.Minute)
	env := []string{childModeEnv + "=worker", childAddrEnv + "=" + srv.Address(), childEnvEnv + "=" + e.env}
	start := time.Now()
	var want []string
	interrupted := 0 // parents still running when their worker was killed
	w := startChild(t, 30*time.Second, env...)
	for round := 0; round < rounds; round++ {
		roundStart := time.Now()
		var runs []*starter.Run
		for i := 0; i < parentsPerRound; i++ {
			runs = append(runs, e.trigger(t, ctx, chaosParent.ID(), chaosPayload{FailAttempts: 1}, starter.TriggerOptions{}))
		}
		time.Sleep(time.Duration(100+rand.IntN(2400)) * time.Millisecond)
		killedAt := time.Now()
		w.kill(t)
		w = startChild(t, 30*time.Second, env...)
		for _, r := range runs {
			var n int
			rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			err := r.Get(rctx, &n)
			cancel()
			require.NoError(t, err, "round %d: parent %s", round, r.WorkflowID)
			require.Equal(t, 5, n)
			want = append(want, chaosChildIDs(t, e, r.RunID)...)
			desc, err := e.c.DescribeWorkflowExecution(ctx, r.WorkflowID, "")
			require.NoError(t, err)
			if desc.GetWorkflowExecutionInfo().GetCloseTime().AsTime().After(killedAt) {
				interrupted++
			}
		}
		t.Logf("round %d: %s", round, time.Since(roundStart).Round(time.Millisecond))
	}
	e.requireRunIDs(t, ctx, "fast-child", want)
	t.Logf("%d rounds, %d parents (%d killed mid-run), %d children, no duplicate: %s",
		rounds, rounds*parentsPerRound, interrupted, len(want), time.Since(start).Round(time.Millisecond))
	require.GreaterOrEqual(t, interrupted, rounds, "most kills land in the middle of parents")
}
