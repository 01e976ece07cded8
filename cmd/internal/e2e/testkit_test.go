package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/oncetest"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// The parent of the issue "testing your own tasks": it triggers kit-child
// with a run-scoped key and once without a key, waits for both, and fails
// its first attempt.
var (
	kitChild = workflows.NewTask("kit-child", func(_ workflow.Context, s string) (string, error) {
		return s, nil
	}, workflows.TaskOptions{})

	kitParent = workflows.NewTask("kit-parent", func(ctx workflow.Context, _ struct{}) (kitResult, error) {
		return kitParentBody(ctx, false)
	}, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: 200 * time.Millisecond}})
)

type kitResult struct {
	Keyed, Unkeyed string
	Attempt        int32
}

// kitParentBody is kit-parent; unkeyedFirst swaps its two triggers (an
// incompatible change).
func kitParentBody(ctx workflow.Context, unkeyedFirst bool) (kitResult, error) {
	var r kitResult
	keyed := func() (err error) {
		r.Keyed, err = kitChild.TriggerAndWait(ctx, "keyed", workflows.ChildOptions{Key: idempotency.Parts{"keyed"}})
		return err
	}
	unkeyed := func() (err error) {
		r.Unkeyed, err = kitChild.TriggerAndWait(ctx, "unkeyed", workflows.ChildOptions{})
		return err
	}
	steps := []func() error{keyed, unkeyed}
	if unkeyedFirst {
		steps = []func() error{unkeyed, keyed}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return r, err
		}
	}
	if r.Attempt = workflow.GetInfo(ctx).Attempt; r.Attempt == 1 {
		return r, temporal.NewApplicationError("kit-parent: attempt 1 fails on purpose", "KitFirstAttempt")
	}
	return r, nil
}

// TestTestkitRetriedParentCountsAsServer: the same parent on the embedded
// server and in oncetest's test environment: 2 attempts, the same result,
// and 2 child runs in both (the retry re-finds the keyed and the unkeyed
// child instead of starting 2 more).
func TestTestkitRetriedParentCountsAsServer(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	ctx := testCtx(t, 2*time.Minute)
	var onServer kitResult
	run := e.triggerAndGet(t, ctx, kitParent.ID(), struct{}{}, &onServer)
	require.Equal(t, kitResult{Keyed: "keyed", Unkeyed: "unkeyed", Attempt: 2}, onServer)
	serverChildren := []string{
		e.childID(t, kitChild.ID(), run.RunID, 0, idempotency.ScopeRun, "keyed"),
		e.childID(t, kitChild.ID(), run.RunID, 0, idempotency.ScopeRun, "once-ordinal", kitChild.ID(), "1"),
	}
	e.requireRunIDs(t, ctx, kitChild.ID(), serverChildren)
	// The run the starter started, restarted once by the worker with the
	// task's retry policy, then attempts 1 and 2.
	e.requireRunIDs(t, ctx, kitParent.ID(), []string{run.WorkflowID, run.WorkflowID, run.WorkflowID})

	kit := oncetest.NewEnv(t, oncetest.Options{Environment: e.env}, kitParent, kitChild)
	kit.ExecuteTask(kitParent, struct{}{})
	require.NoError(t, kit.GetWorkflowError())
	var inKit kitResult
	require.NoError(t, kit.GetWorkflowResult(&inKit))
	require.Equal(t, onServer, inKit)
	require.Equal(t, 2, kit.TaskAttempts())
	require.Equal(t, len(serverChildren), kit.ChildStarts(kitChild.ID()), "child runs: server %d, test environment %d", len(serverChildren), kit.ChildStarts(kitChild.ID()))
}

// TestTestkitRecordAndReplay: RecordRun writes every execution of a run
// with a failed attempt from the server — the run the starter started,
// which the worker restarted with the task's retry policy, then both
// attempts — each with its metadata; ReplayDir replays them; a reordered
// parent does not replay the attempts.
func TestTestkitRecordAndReplay(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	ctx := testCtx(t, 2*time.Minute)
	run := e.triggerAndGet(t, ctx, kitParent.ID(), struct{}{}, nil)

	dir := t.TempDir()
	paths, err := starter.RecordRun(ctx, e.c, run.WorkflowID, dir)
	require.NoError(t, err)
	require.Len(t, paths, 3, "one file per execution: the restart, attempts 1 and 2")
	for i, p := range paths {
		_, meta, err := starter.ReadHistoryFile(p)
		require.NoError(t, err)
		require.NotEmpty(t, meta.RunID)
		if i == 0 {
			require.Equal(t, run.RunID, meta.RunID, "the run the starter started")
		}
		meta.RunID = ""
		require.Equal(t, starter.HistoryMetadata{
			WorkflowID: run.WorkflowID, FirstRunID: run.RunID, Attempt: []int32{1, 1, 2}[i], Task: kitParent.ID(), Environment: e.env,
		}, meta, p)
	}
	oncetest.ReplayDir(t, dir, kitParent)

	swapped := workflows.NewTask(kitParent.ID(), func(ctx workflow.Context, _ struct{}) (kitResult, error) {
		return kitParentBody(ctx, true)
	}, kitParent.Options())
	require.NoError(t, oncetest.ReplayFile(paths[0], swapped), "the restart runs none of the task's code")
	for _, p := range paths[1:] {
		require.ErrorContains(t, oncetest.ReplayFile(p, swapped), "nondeterministic", p)
	}
}

// TestTestkitCLIHistory: `starter history` writes every execution of the
// key's run (the CLI's start, restarted by the worker with the task's retry
// policy, then attempts 1 and 2); the files replay with the helper.
func TestTestkitCLIHistory(t *testing.T) {
	t.Parallel()
	e := newTaskEnv(t, true)
	key := unique("key")
	requireOK(t, cli(t, e.env, "", "trigger", examples.MyTask.ID(), "--key", key, "--payload", `{"failAttempts":1}`, "--wait", "--json"))

	dir := filepath.Join(t.TempDir(), "replay")
	r := cli(t, e.env, "", "history", examples.MyTask.ID(), "--key", key, "--out", dir)
	requireOK(t, r)
	require.Equal(t, 3, strings.Count(r.stdout, "wrote "), r.stdout)
	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, files, 3)
	oncetest.ReplayDir(t, dir, examples.Tasks()...)

	requireOneLineError(t, cli(t, e.env, "", "history", examples.MyTask.ID(), "--key", key), 2)
	requireOneLineError(t, cli(t, e.env, "", "history", examples.MyTask.ID(), "--key", unique("none"), "--out", dir), 1)
}
