package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// debounceTrigger is one debounced trigger of child-task (which returns its
// payload) and when it was made.
type debounceTrigger struct {
	run *starter.Run
	i   int
	at  time.Time
}

// triggerBurst triggers child-task n times, every `every`, with payload
// {"i": i} and the debounce settings d, and returns the triggers.
func triggerBurst(tb testing.TB, ctx context.Context, e *taskEnv, d starter.Debounce, n int, every time.Duration) []debounceTrigger {
	tb.Helper()
	var out []debounceTrigger
	next := time.Now()
	for i := range n {
		time.Sleep(time.Until(next))
		next = next.Add(every)
		at := time.Now()
		run, err := e.starter.Trigger(ctx, examples.ChildTask.ID(), map[string]any{"i": i}, starter.TriggerOptions{Debounce: &d})
		require.NoError(tb, err, "trigger %d", i)
		require.False(tb, run.Cached)
		require.Empty(tb, run.RunID, "the burst's run has not started when a trigger returns")
		out = append(out, debounceTrigger{run: run, i: i, at: at})
	}
	return out
}

// bursts groups triggers by the run that answers them, in trigger order.
func bursts(triggers []debounceTrigger) (ids []string, by map[string][]debounceTrigger) {
	by = map[string][]debounceTrigger{}
	for _, tr := range triggers {
		id := tr.run.WorkflowID
		if _, ok := by[id]; !ok {
			ids = append(ids, id)
		}
		by[id] = append(by[id], tr)
	}
	return ids, by
}

// resultOf waits (bounded) for a debounced trigger's run and returns the
// payload index it ran with.
func resultOf(tb testing.TB, ctx context.Context, run *starter.Run) int {
	tb.Helper()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var got map[string]any
	require.NoError(tb, run.Get(rctx, &got), run.WorkflowID)
	return int(got["i"].(float64))
}

// startTime is when the run of workflowID started, by the server.
func startTime(tb testing.TB, ctx context.Context, e *taskEnv, workflowID string) time.Time {
	tb.Helper()
	desc, err := e.c.DescribeWorkflowExecution(ctx, workflowID, "")
	require.NoError(tb, err)
	return desc.GetWorkflowExecutionInfo().GetStartTime().AsTime()
}

// TestDebounce: a burst of triggers with one debounce key makes one run, on
// a real server: 50 triggers over 2 s with delay 500 ms make one run with
// the last payload (trailing) or the first (leading); maxDelay caps a burst
// that never goes quiet; two bursts separated by quiet make two runs; a
// trigger from workflow code joins a burst too. Bad settings start nothing.
func TestDebounce(t *testing.T) {
	e := newTaskEnv(t, false)
	w, err := worker.New(e.starter, worker.Options{Tasks: append(e2eTasks(), debouncingParent), Logger: shared.DiscardLogger()})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	ctx := testCtx(t, 3*time.Minute)
	var want []string // every child-task run the environment should hold

	for _, mode := range []once.DebounceMode{once.DebounceTrailing, once.DebounceLeading} {
		t.Run(string(mode), func(t *testing.T) {
			d := starter.Debounce{Key: unique("burst"), Delay: 500 * time.Millisecond, Mode: mode}
			triggers := triggerBurst(t, ctx, e, d, 50, 40*time.Millisecond)
			ids, _ := bursts(triggers)
			require.Len(t, ids, 1, "one run for the burst")
			last := triggers[len(triggers)-1]
			got := resultOf(t, ctx, last.run)
			started := startTime(t, ctx, e, ids[0])
			if mode == once.DebounceTrailing {
				require.Equal(t, 49, got, "the last payload")
				require.True(t, started.After(last.at.Add(400*time.Millisecond)), "started %v after the last trigger: want the delay", started.Sub(last.at))
			} else {
				require.Equal(t, 0, got, "the first payload")
				require.True(t, started.Before(triggers[0].at.Add(time.Second)), "started %v after the first trigger: want at once", started.Sub(triggers[0].at))
			}
			// Every trigger's Get waits for the same run.
			require.Equal(t, got, resultOf(t, ctx, triggers[0].run))
			// The debouncer that took the triggers is the run's parent.
			debID, debRunID, ok := last.run.Debouncer()
			require.True(t, ok)
			desc, err := e.c.DescribeWorkflowExecution(ctx, ids[0], "")
			require.NoError(t, err)
			require.Equal(t, debID, desc.GetWorkflowExecutionInfo().GetParentExecution().GetWorkflowId())
			require.Equal(t, debRunID, desc.GetWorkflowExecutionInfo().GetParentExecution().GetRunId())
			want = append(want, ids...)
		})
	}

	t.Run("maxDelay", func(t *testing.T) {
		// Triggers every 100 ms for 3 s never leave 500 ms of quiet: each
		// run starts by about 1 s after its burst's first trigger.
		d := starter.Debounce{Key: unique("busy"), Delay: 500 * time.Millisecond, MaxDelay: time.Second, Mode: once.DebounceTrailing}
		triggers := triggerBurst(t, ctx, e, d, 30, 100*time.Millisecond)
		ids, by := bursts(triggers)
		require.GreaterOrEqual(t, len(ids), 2, "a 3 s burst with maxDelay 1 s is cut")
		for _, id := range ids {
			group := by[id]
			got := resultOf(t, ctx, group[0].run)
			after := startTime(t, ctx, e, id).Sub(group[0].at)
			require.Less(t, after, 1750*time.Millisecond, "run %s started %v after its burst's first trigger", id, after)
			require.GreaterOrEqual(t, got, group[0].i, "a payload of its burst")
			require.LessOrEqual(t, got, group[len(group)-1].i, "a payload of its burst")
		}
		want = append(want, ids...)
	})

	t.Run("two bursts", func(t *testing.T) {
		d := starter.Debounce{Key: unique("twice"), Delay: 300 * time.Millisecond, Mode: once.DebounceTrailing}
		first := triggerBurst(t, ctx, e, d, 5, 20*time.Millisecond)
		require.Equal(t, 4, resultOf(t, ctx, first[0].run))
		time.Sleep(500 * time.Millisecond) // quiet: the next trigger opens a new burst
		second := triggerBurst(t, ctx, e, d, 5, 20*time.Millisecond)
		ids, _ := bursts(append(first, second...))
		require.Len(t, ids, 2, "two bursts, two runs")
		require.Equal(t, 4, resultOf(t, ctx, second[0].run))
		want = append(want, ids...)
	})

	t.Run("from workflow code", func(t *testing.T) {
		key := unique("wf")
		run, err := e.starter.Trigger(ctx, debouncingParent.ID(), key, starter.TriggerOptions{})
		require.NoError(t, err)
		var got []string
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		require.NoError(t, run.Get(rctx, &got))
		// Three triggers, one run, with the last payload; every handle named it.
		require.Len(t, got, 4)
		require.Equal(t, []string{got[0], got[0], got[0]}, got[:3])
		require.Equal(t, "3", got[3])
		want = append(want, got[0])
	})

	t.Run("invalid", func(t *testing.T) {
		for _, d := range []starter.Debounce{
			{Key: "k"},
			{Key: "", Delay: time.Second},
			{Key: "k", Delay: time.Second, MaxDelay: time.Millisecond},
			{Key: "k", Delay: time.Second, Mode: "sideways"},
		} {
			_, err := e.starter.Trigger(ctx, examples.ChildTask.ID(), nil, starter.TriggerOptions{Debounce: &d})
			require.ErrorIs(t, err, once.ErrInvalidInput, "%+v", d)
			require.ErrorIs(t, err, once.ErrInvalidDebounce, "%+v", d)
		}
		d := starter.Debounce{Key: "k", Delay: time.Second}
		_, err := e.starter.Trigger(ctx, examples.ChildTask.ID(), nil, starter.TriggerOptions{Debounce: &d, TTL: time.Hour})
		require.ErrorIs(t, err, once.ErrInvalidDebounce, "a debounced trigger takes no other option")
	})

	e.requireRunIDs(t, ctx, examples.ChildTask.ID(), want)
	// The debouncers all closed; none was started by a refused trigger.
	debouncers := e.runsOf(t, ctx, once.DebounceWorkflow)
	for _, r := range debouncers {
		require.NotEqual(t, "k", memoStrings(t, r.GetMemo())[once.MemoKeyText], "a refused trigger started a debouncer")
	}
}

// debouncingParent triggers child-task three times from workflow code with
// one debounce key (its payload), trailing, and returns the workflow IDs of
// the three handles and the result of the last one's run.
var debouncingParent = workflows.NewTask("debouncing-parent", func(ctx workflow.Context, key string) ([]string, error) {
	var out []string
	var last *workflows.Handle[map[string]any]
	for i := 1; i <= 3; i++ {
		h, err := examples.ChildTask.Trigger(ctx, map[string]any{"i": i}, workflows.ChildOptions{
			Debounce: &once.Debounce{Key: key, Delay: 300 * time.Millisecond, Mode: once.DebounceTrailing},
		})
		if err != nil {
			return nil, err
		}
		out, last = append(out, h.WorkflowID), h
	}
	r, err := last.Get(ctx)
	if err != nil {
		return nil, err
	}
	return append(out, fmt.Sprint(r["i"])), nil
}, workflows.TaskOptions{})

// TestDebounceWorkerSIGKILL kills the worker (a child process) with SIGKILL
// inside a debounce window: the debouncer's timer fires on the server, a new
// worker takes the debouncer over, and the burst still makes exactly one
// run, with the last payload.
func TestDebounceWorkerSIGKILL(t *testing.T) {
	e := newTaskEnv(t, false)
	ctx := testCtx(t, 3*time.Minute)
	env := []string{childModeEnv + "=worker", childAddrEnv + "=" + srv.Address(), childEnvEnv + "=" + e.env}
	w := startChild(t, 30*time.Second, env...)
	d := starter.Debounce{Key: unique("kill"), Delay: 2 * time.Second, Mode: once.DebounceTrailing}
	triggers := triggerBurst(t, ctx, e, d, 10, 50*time.Millisecond)
	ids, _ := bursts(triggers)
	require.Len(t, ids, 1)
	time.Sleep(300 * time.Millisecond) // the worker has taken the signals
	w.kill(t)
	killedAt := time.Now()
	_, err := e.c.DescribeWorkflowExecution(ctx, ids[0], "")
	require.Error(t, err, "the run has not started when the worker dies")
	startChild(t, 30*time.Second, env...)
	require.Equal(t, 9, resultOf(t, ctx, triggers[0].run), "the last payload")
	require.True(t, startTime(t, ctx, e, ids[0]).After(killedAt), "started by the new worker")
	e.requireRunIDs(t, ctx, examples.ChildTask.ID(), ids)
}

// debounceReplayDir holds the debouncer's recorded histories, replayed by
// package workflows (TestDebouncerReplays).
var debounceReplayDir = filepath.Join("..", "..", "..", "workflows", "testdata", "debounce")

// TestDebounceRecordHistories records a debouncer's run per mode (five
// triggers of child-task, 50 ms apart, delay 300 ms) on the embedded
// server into workflows/testdata/debounce, with fixed identities. It runs
// only with ONCE_RECORD_HISTORIES=1:
//
//	ONCE_RECORD_HISTORIES=1 go test -count=1 -run TestDebounceRecordHistories ./cmd/internal/e2e/
func TestDebounceRecordHistories(t *testing.T) {
	st := startRecording(t, debounceReplayDir, examples.Tasks(), nil)
	c := st.Temporal()
	ctx := testCtx(t, 2*time.Minute)
	for _, mode := range []once.DebounceMode{once.DebounceTrailing, once.DebounceLeading} {
		d := starter.Debounce{Key: "replay-" + string(mode), Delay: 300 * time.Millisecond, MaxDelay: 2 * time.Second, Mode: mode}
		var last *starter.Run
		var err error
		for i := range 5 {
			last, err = st.Trigger(ctx, examples.ChildTask.ID(), map[string]any{"i": i}, starter.TriggerOptions{Debounce: &d})
			require.NoError(t, err)
			time.Sleep(50 * time.Millisecond)
		}
		require.NoError(t, last.Get(ctx, nil))
		desc, err := c.DescribeWorkflowExecution(ctx, last.WorkflowID, "")
		require.NoError(t, err)
		debouncer := desc.GetWorkflowExecutionInfo().GetParentExecution().GetWorkflowId()
		require.NotEmpty(t, debouncer, "the burst's run is the debouncer's child")
		paths, err := starter.RecordRun(ctx, c, debouncer, debounceReplayDir)
		require.NoError(t, err)
		t.Logf("%s: wrote %v", mode, paths)
	}
}

// The CLI's debounce flags: five triggers with one debounce key name one
// run, the last one waits for it and prints the last payload; bad debounce
// flags are usage errors (exit 2) and start nothing.
func TestCLIDebounce(t *testing.T) {
	e := newTaskEnv(t, true)
	key := unique("cli")
	var ids []string
	for i := range 5 {
		args := []string{"trigger", examples.ChildTask.ID(), "--payload", fmt.Sprintf(`{"i":%d}`, i),
			"--debounce-key", key, "--debounce-delay", "300ms", "--debounce-mode", "trailing", "--debounce-max-delay", "5s", "--json"}
		if i == 4 {
			args = append(args, "--wait")
		}
		r := cli(t, e.env, "", args...)
		requireOK(t, r)
		out := decodeJSON[struct {
			cliTrigger
			Debounced bool `json:"debounced"`
		}](t, r.stdout)
		require.True(t, out.Debounced, r.stdout)
		require.Empty(t, out.RunID)
		ids = append(ids, out.WorkflowID)
		if i == 4 {
			require.JSONEq(t, `{"i":4}`, string(out.Result))
		}
	}
	require.Equal(t, []string{ids[0], ids[0], ids[0], ids[0], ids[0]}, ids)
	r := cli(t, e.env, "", "trigger", examples.ChildTask.ID(), "--debounce-key", key, "--debounce-delay", "300ms")
	requireOK(t, r)
	require.Contains(t, r.stdout, "debounced")

	for name, args := range map[string][]string{
		"delay without key":  {"--debounce-delay", "1s"},
		"key without delay":  {"--debounce-key", "k"},
		"unknown mode":       {"--debounce-key", "k", "--debounce-delay", "1s", "--debounce-mode", "sideways"},
		"maxDelay below":     {"--debounce-key", "k", "--debounce-delay", "1s", "--debounce-max-delay", "10ms"},
		"with a key":         {"--debounce-key", "k", "--debounce-delay", "1s", "--key", "x"},
		"malformed delay":    {"--debounce-key", "k", "--debounce-delay", "soon"},
		"mode without key":   {"--debounce-mode", "leading"},
		"negative max delay": {"--debounce-key", "k", "--debounce-delay", "1s", "--debounce-max-delay", "-1s"},
	} {
		t.Run(name, func(t *testing.T) {
			requireOneLineError(t, cli(t, e.env, "", append([]string{"trigger", examples.ChildTask.ID()}, args...)...), 2)
		})
	}
	e.requireRunIDs(t, testCtx(t, time.Minute), examples.ChildTask.ID(), []string{ids[0], r.stdout[len("debounced  workflow "):strings.Index(r.stdout, "  (")]})
}
