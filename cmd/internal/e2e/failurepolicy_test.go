package e2e

// The failure policy of a task (issue 25): a task's definition keeps or
// releases the key of a run that failed, timed out or was terminated
// (workflows.TaskOptions.OnFailure), a trigger may override it, and every
// path applies it alike — Trigger and TriggerAndWait, BatchTrigger, child
// triggers (one item or a batch), the CLI — against the server. N callers
// that find the failed run start one new run.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// fpInput is the payload of the failure-policy tasks.
type fpInput struct {
	Fail  bool `json:"fail,omitempty"`  // fail at once
	Sleep bool `json:"sleep,omitempty"` // sleep an hour (to be terminated)
	N     int  `json:"n"`
}

// fpRun fails, sleeps or returns its payload.
func fpRun(ctx workflow.Context, in fpInput) (fpInput, error) {
	switch {
	case in.Fail:
		return in, temporal.NewNonRetryableApplicationError("fails on purpose", "FpFail", nil)
	case in.Sleep:
		return in, workflow.Sleep(ctx, time.Hour)
	}
	return in, nil
}

var (
	// fpRelease's definition releases the key of a failed run. Its retry
	// policy makes the worker restart a run the starter started (a
	// continue-as-new): the policy is judged on the chain's current run.
	fpRelease = workflows.NewTask("fp-release", fpRun, workflows.TaskOptions{
		OnFailure:   once.FailureRelease,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 2},
	})
	// fpKeep keeps it (the default).
	fpKeep = workflows.NewTask("fp-keep", fpRun, workflows.TaskOptions{})

	// fpParent triggers fp-release or fp-keep as a child with a global key,
	// one item or a batch of them, and reports what it got.
	fpParent = workflows.NewTask("fp-parent", func(ctx workflow.Context, in fpChildIn) ([]fpChildOut, error) {
		t := fpKeep
		if in.Task == fpRelease.ID() {
			t = fpRelease
		}
		var items []workflows.ChildItem[fpInput]
		for _, k := range in.Keys {
			items = append(items, workflows.ChildItem[fpInput]{Payload: in.Payload, Options: workflows.ChildOptions{
				Key: idempotency.Parts{k}, Scope: idempotency.ScopeGlobal, OnFailure: in.OnFailure,
			}})
		}
		var handles []*workflows.Handle[fpInput]
		if len(items) == 1 {
			h, err := t.Trigger(ctx, items[0].Payload, items[0].Options)
			if err != nil {
				return nil, err
			}
			handles = append(handles, h)
		} else {
			bhs, err := t.BatchTrigger(ctx, items, workflows.ChildBatchOptions{})
			if err != nil {
				return nil, err
			}
			for _, bh := range bhs {
				if bh.Err != nil {
					return nil, bh.Err
				}
				handles = append(handles, bh.Handle)
			}
		}
		var out []fpChildOut
		for _, h := range handles {
			v, err := h.Get(ctx)
			o := fpChildOut{Cached: h.Cached, RunID: h.RunID, Value: v}
			if err != nil {
				o.Err = err.Error()
			}
			out = append(out, o)
		}
		return out, nil
	}, workflows.TaskOptions{})
)

// chainsOf counts the runs of workflowID, a run restarted by the worker
// (continued as new) once.
func chainsOf(workflowID string) string {
	return runsOf(workflowID) + " AND ExecutionStatus != 'ContinuedAsNew'"
}

type fpChildIn struct {
	Task      string             `json:"task"`
	Keys      []string           `json:"keys"`
	Payload   fpInput            `json:"payload"`
	OnFailure once.FailurePolicy `json:"onFailure"`
}

type fpChildOut struct {
	Cached bool    `json:"cached"`
	RunID  string  `json:"runId"`
	Value  fpInput `json:"value"`
	Err    string  `json:"err"`
}

type fpEnv struct {
	env string
	s   *starter.Client
}

func newFailurePolicyEnv(t *testing.T) *fpEnv {
	t.Helper()
	env := unique("fp")
	s := newStarter(t, starter.Options{Environment: env, Logger: shared.DiscardLogger()})
	w, err := worker.New(s, worker.Options{Tasks: []workflows.Definition{fpRelease, fpKeep, fpParent}, Logger: shared.DiscardLogger()})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return &fpEnv{env: env, s: s}
}

// fail makes the key's run one that failed, through s.
func (e *fpEnv) fail(t *testing.T, ctx context.Context, task string, k idempotency.Parts) *starter.Run {
	t.Helper()
	run, err := e.s.TriggerAndWait(ctx, task, fpInput{Fail: true}, nil, starter.TriggerOptions{Key: k})
	require.Error(t, err)
	require.False(t, run.Cached)
	return run
}

// policyCases are the task's policy and the trigger's override, and whether
// a failed run's key is released.
var policyCases = []struct {
	name      string
	task      string
	onFailure once.FailurePolicy
	released  bool
}{
	{"task releases", "fp-release", once.FailureDefault, true},
	{"task keeps", "fp-keep", once.FailureDefault, false},
	{"trigger releases a task that keeps", "fp-keep", once.FailureRelease, true},
	{"trigger keeps a task that releases", "fp-release", once.FailureKeep, false},
}

// TestFailurePolicySingle: Trigger and TriggerAndWait after a failed run:
// released, a new run (not Cached) with its own result; kept, the failed run
// (Cached) and its failure. A release task's run terminated mid-way (a
// crash) releases its key too; its completed run keeps it.
func TestFailurePolicySingle(t *testing.T) {
	t.Parallel()
	e := newFailurePolicyEnv(t)
	ctx := testCtx(t, 3*time.Minute)
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			k := key(unique("single"))
			old := e.fail(t, ctx, tc.task, k)
			var got fpInput
			run, err := e.s.TriggerAndWait(ctx, tc.task, fpInput{N: 2}, &got, starter.TriggerOptions{Key: k, OnFailure: tc.onFailure})
			if !tc.released {
				require.Error(t, err)
				require.True(t, run.Cached)
				require.Equal(t, old.RunID, run.RunID)
				countRuns(t, e.s.Temporal(), chainsOf(old.WorkflowID), 1)
				return
			}
			require.NoError(t, err)
			require.False(t, run.Cached)
			require.NotEqual(t, old.RunID, run.RunID)
			require.Equal(t, 2, got.N)
			// The new run completed: it keeps the key.
			again, err := e.s.Trigger(ctx, tc.task, fpInput{N: 3}, starter.TriggerOptions{Key: k, OnFailure: tc.onFailure})
			require.NoError(t, err)
			require.True(t, again.Cached)
			require.Equal(t, run.RunID, again.RunID)
			countRuns(t, e.s.Temporal(), chainsOf(old.WorkflowID), 2)
		})
	}

	t.Run("terminated run of a task that releases", func(t *testing.T) {
		k := key(unique("crash"))
		old, err := e.s.Trigger(ctx, fpRelease.ID(), fpInput{Sleep: true}, starter.TriggerOptions{Key: k})
		require.NoError(t, err)
		c := e.s.Temporal()
		eventually(t, 30*time.Second, "the run records its policy", func() (bool, error) {
			desc, err := c.DescribeWorkflowExecution(ctx, old.WorkflowID, "")
			if err != nil {
				return false, err
			}
			_, ok := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[once.MemoOnFailure]
			return ok, nil
		})
		require.NoError(t, c.TerminateWorkflow(ctx, old.WorkflowID, "", "crash")) // the chain's current run
		run, err := e.s.Trigger(ctx, fpRelease.ID(), fpInput{N: 1}, starter.TriggerOptions{Key: k})
		require.NoError(t, err)
		require.False(t, run.Cached)
		require.NotEqual(t, old.RunID, run.RunID)
	})
}

// TestFailurePolicyConcurrent: 32 callers, each with a Client of its own,
// that find the failed run of a task that releases, with no option of
// their own, start one new run; exactly one of them is told it started it.
// 8 parents whose children find it do the same.
func TestFailurePolicyConcurrent(t *testing.T) {
	t.Parallel()
	e := newFailurePolicyEnv(t)
	ctx := testCtx(t, 3*time.Minute)

	t.Run("callers", func(t *testing.T) {
		const n = 32
		k := key(unique("race"))
		old := e.fail(t, ctx, fpRelease.ID(), k)
		// Every caller's replacement start is held until all 32 have sent
		// one: all of them judged the failed run and replace it.
		gate := &rpcGate{}
		gs := lazyStarter(t, srv.Address(), srv.Namespace(), starter.Options{Environment: e.env, Logger: shared.DiscardLogger()}, grpc.WithChainUnaryInterceptor(gate.intercept))
		clients := make([]*starter.Client, n)
		for i := range clients {
			var err error
			clients[i], err = gs.With(starter.Options{Environment: e.env, Logger: shared.DiscardLogger()})
			require.NoError(t, err)
		}
		arrived := gate.holdStarts(old.WorkflowID, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, n)
		runs := make([]*starter.Run, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runs[i], errs[i] = clients[i].Trigger(ctx, fpRelease.ID(), fpInput{N: i}, starter.TriggerOptions{Key: k})
			}()
		}
		wg.Wait()
		require.Equal(t, n, arrived(), "every caller sent a replacement start")
		started := 0
		for i := range n {
			require.NoError(t, errs[i], "caller %d", i)
			require.Equal(t, runs[0].RunID, runs[i].RunID, "caller %d: one run for all", i)
			if !runs[i].Cached {
				started++
			}
		}
		require.Equal(t, 1, started, "exactly one caller started the new run")
		require.NotEqual(t, old.RunID, runs[0].RunID)
		countRuns(t, e.s.Temporal(), chainsOf(old.WorkflowID), 2)
	})

	t.Run("parents", func(t *testing.T) {
		const n = 8
		name := unique("race-child")
		old := e.fail(t, ctx, fpRelease.ID(), key(name))
		outs := make([][]fpChildOut, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.s.TriggerAndWait(ctx, fpParent.ID(), fpChildIn{Task: fpRelease.ID(), Keys: []string{name}, Payload: fpInput{N: i}}, &outs[i], starter.TriggerOptions{})
			}()
		}
		wg.Wait()
		started := 0
		var runID string
		for i := range n {
			require.NoError(t, errs[i], "parent %d", i)
			require.Len(t, outs[i], 1)
			o := outs[i][0]
			require.Empty(t, o.Err, "parent %d", i)
			if !o.Cached {
				started++
				runID = o.RunID
			}
		}
		require.Equal(t, 1, started, "exactly one parent started the new run")
		require.NotEqual(t, old.RunID, runID)
		countRuns(t, e.s.Temporal(), chainsOf(old.WorkflowID), 2)
	})
}

// TestFailurePolicyBatch: each item of a batch applies its task's policy
// and its own override, as a single trigger does.
func TestFailurePolicyBatch(t *testing.T) {
	t.Parallel()
	e := newFailurePolicyEnv(t)
	ctx := testCtx(t, 3*time.Minute)
	for _, task := range []string{fpRelease.ID(), fpKeep.ID()} {
		t.Run(task, func(t *testing.T) {
			var items []starter.BatchItem
			var olds []*starter.Run
			var cases []bool // released
			for _, tc := range policyCases {
				if tc.task != task {
					continue
				}
				k := key(unique("batch"))
				olds = append(olds, e.fail(t, ctx, task, k))
				items = append(items, starter.BatchItem{Payload: fpInput{N: len(items)}, Options: starter.TriggerOptions{Key: k, OnFailure: tc.onFailure}})
				cases = append(cases, tc.released)
			}
			res, err := e.s.BatchTrigger(ctx, task, items, starter.BatchOptions{})
			require.NoError(t, err)
			for i, r := range res {
				require.NoError(t, r.Err, "item %d", i)
				require.Equal(t, !cases[i], r.Run.Cached, "item %d", i)
				require.Equal(t, !cases[i], olds[i].RunID == r.Run.RunID, "item %d", i)
			}
		})
	}
}

// TestFailurePolicyChild: a child trigger — one item or a batch — whose
// workflow ID a failed run holds gets one new run when its task releases
// (or its override says release): the parent waits for it, with its result;
// kept, the parent gets the failed run's failure.
func TestFailurePolicyChild(t *testing.T) {
	t.Parallel()
	e := newFailurePolicyEnv(t)
	ctx := testCtx(t, 3*time.Minute)
	for _, batch := range []bool{false, true} {
		for _, tc := range policyCases {
			name := tc.name
			if batch {
				name = "batch/" + name
			}
			t.Run(name, func(t *testing.T) {
				keys := []string{unique("child")}
				if batch {
					keys = append(keys, unique("child"))
				}
				var olds []*starter.Run
				for _, k := range keys {
					olds = append(olds, e.fail(t, ctx, tc.task, key(k)))
				}
				var outs []fpChildOut
				_, err := e.s.TriggerAndWait(ctx, fpParent.ID(), fpChildIn{Task: tc.task, Keys: keys, Payload: fpInput{N: 7}, OnFailure: tc.onFailure}, &outs, starter.TriggerOptions{})
				require.NoError(t, err)
				require.Len(t, outs, len(keys))
				for i, o := range outs {
					if !tc.released {
						require.True(t, o.Cached, "item %d", i)
						require.Contains(t, o.Err, "fails on purpose", "item %d: the failed run's failure", i)
						countRuns(t, e.s.Temporal(), chainsOf(olds[i].WorkflowID), 1)
						continue
					}
					require.Empty(t, o.Err, "item %d", i)
					require.False(t, o.Cached, "item %d: this parent started the new run", i)
					require.NotEqual(t, olds[i].RunID, o.RunID)
					require.Equal(t, 7, o.Value.N)
					countRuns(t, e.s.Temporal(), chainsOf(olds[i].WorkflowID), 2)
				}
			})
		}
	}
}

// TestFailurePolicyCLI: trigger and batch --on-failure, and the task's
// policy without it; describe names the policy the key's run records.
func TestFailurePolicyCLI(t *testing.T) {
	t.Parallel()
	e := newFailurePolicyEnv(t)
	ctx := testCtx(t, 3*time.Minute)
	flag := map[once.FailurePolicy][]string{
		once.FailureDefault: nil,
		once.FailureKeep:    {"--on-failure", "keep"},
		once.FailureRelease: {"--on-failure", "release"},
	}
	for _, tc := range policyCases {
		t.Run("trigger/"+tc.name, func(t *testing.T) {
			k := unique("cli")
			old := e.fail(t, ctx, tc.task, key(k))
			args := append([]string{"trigger", tc.task, "--key", k, "--payload", `{"n":5}`, "--wait", "--json"}, flag[tc.onFailure]...)
			r := cli(t, e.env, "", args...)
			out := decodeJSON[cliTrigger](t, r.stdout)
			if !tc.released {
				require.Equal(t, 1, r.code, "the failed run's failure; stderr: %s", r.stderr)
				require.True(t, out.Cached)
				require.Equal(t, old.RunID, out.RunID)
				return
			}
			requireOK(t, r)
			require.False(t, out.Cached)
			require.NotEqual(t, old.RunID, out.RunID)
			require.JSONEq(t, `{"n":5}`, string(out.Result))
		})
	}
	for task, want := range map[string]string{fpRelease.ID(): "release", fpKeep.ID(): "keep"} {
		t.Run("describe/"+task, func(t *testing.T) {
			k := unique("cli-describe")
			e.fail(t, ctx, task, key(k))
			r := cli(t, e.env, "", "describe", task, "--key", k, "--json")
			requireOK(t, r)
			out := decodeJSON[cliDescribe](t, r.stdout)
			require.Equal(t, "failed", out.Status)
			require.Equal(t, want, out.OnFailure)
			r = cli(t, e.env, "", "describe", task, "--key", k)
			requireOK(t, r)
			require.Contains(t, r.stdout, "\nOn failure "+want+"\n")
		})
	}
	for _, tc := range policyCases {
		t.Run("batch/"+tc.name, func(t *testing.T) {
			keys := []string{unique("cli-batch"), unique("cli-batch")}
			var lines []string
			var olds []*starter.Run
			for i, k := range keys {
				olds = append(olds, e.fail(t, ctx, tc.task, key(k)))
				b, err := json.Marshal(map[string]any{"payload": fpInput{N: i}, "key": k})
				require.NoError(t, err)
				lines = append(lines, string(b))
			}
			file := filepath.Join(t.TempDir(), "items.jsonl")
			require.NoError(t, os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600))
			r := cli(t, e.env, "", append([]string{"batch", tc.task, "--file", file, "--json"}, flag[tc.onFailure]...)...)
			requireOK(t, r)
			for i, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				out := decodeJSON[cliTrigger](t, l)
				require.Equal(t, !tc.released, out.Cached, "line %d", i+1)
				require.Equal(t, !tc.released, out.RunID == olds[i].RunID, "line %d", i+1)
			}
		})
	}
}
