package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/examples/shop"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// recordEnv turns the recording tests on.
const recordEnv = "ONCE_RECORD_HISTORIES"

// Where the replay tests read histories, relative to this package.
var (
	replayDir     = filepath.Join("..", "..", "..", "examples", "testdata", "replay")
	shopReplayDir = filepath.Join("..", "..", "..", "examples", "shop", "testdata", "replay")
)

// recorded is a run to record: a task triggered with a payload under the
// key ("replay", name).
type recorded struct {
	name    string
	task    string
	payload any
}

// recordHistories replaces the history files in dir with every attempt of
// each run of runs (starter.RecordRun), run by a worker of tasks (and of
// the activities that register registers; see startRecording).
func recordHistories(t *testing.T, dir string, tasks []workflows.Definition, register func(*worker.Worker), runs []recorded) {
	t.Helper()
	st := startRecording(t, dir, tasks, register)
	ctx := testCtx(t, 2*time.Minute)
	for _, r := range runs {
		run, err := st.TriggerAndWait(ctx, r.task, r.payload, nil, starter.TriggerOptions{Key: idempotency.Parts{"replay", r.name}})
		require.NoError(t, err)
		paths, err := starter.RecordRun(ctx, st.Temporal(), run.WorkflowID, dir)
		require.NoError(t, err)
		t.Logf("%s: wrote %v", r.name, paths)
	}
}

// startRecording skips the test unless ONCE_RECORD_HISTORIES=1; else it
// removes the history files in dir and starts a worker of tasks (and of the
// activities that register, when not nil, registers) in the environment
// "record" with fixed identities, which keep this machine's name and PIDs
// out of the files, stopped when the test ends. It returns its starter.
func startRecording(t *testing.T, dir string, tasks []workflows.Definition, register func(*worker.Worker)) *starter.Client {
	t.Helper()
	if os.Getenv(recordEnv) != "1" {
		t.Skipf("set %s=1 to record replay histories", recordEnv)
	}
	const env, identity = "record", "once-record"
	copts := sharedClientOptions()
	copts.Identity = identity
	st := mustDialStarter(t, copts, starter.Options{Environment: env, Logger: shared.DiscardLogger()})
	w, err := worker.New(st, worker.Options{
		Tasks: tasks, Logger: shared.DiscardLogger(),
		Worker: sdkworker.Options{Identity: identity},
	})
	require.NoError(t, err)
	if register != nil {
		register(w)
	}
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	for _, p := range old {
		require.NoError(t, os.Remove(p))
	}
	return st
}

// TestTasksRecordHistories records every attempt of one run per example
// task on the embedded server into examples/testdata/replay, for the replay
// test of package examples. It runs only with ONCE_RECORD_HISTORIES=1:
//
//	ONCE_RECORD_HISTORIES=1 go test -count=1 -run TestTasksRecordHistories ./cmd/internal/e2e/
//
// my-task fails its first attempt: attempt 1 starts the child, attempt 2
// has the start refused by the server and attaches.
func TestTasksRecordHistories(t *testing.T) {
	register := func(w *worker.Worker) { w.RegisterActivity(&examples.Activities{Starter: w.Starter()}) }
	recordHistories(t, replayDir, examples.Tasks(), register, []recorded{
		{"hello", examples.Hello.ID(), examples.HelloPayload{Name: "Ada"}},
		{"child-task", examples.ChildTask.ID(), map[string]any{"hello": "world"}},
		{"my-task", examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 1}},
		{"activity-trigger-task", examples.ActivityTriggerTask.ID(), examples.ActivityTriggerPayload{FailAttempts: 1}},
	})
}

// TestShopRecordHistories records the README's task place-order (package
// examples/shop) on the embedded server: the card is declined once, so the
// run has two attempts. It runs only with ONCE_RECORD_HISTORIES=1.
func TestShopRecordHistories(t *testing.T) {
	var calls atomic.Int32
	pay := func(context.Context, string) error {
		if calls.Add(1) == 1 {
			return errors.New("card declined")
		}
		return nil
	}
	register := func(w *worker.Worker) { w.RegisterActivity(&shop.Activities{Pay: pay}) }
	recordHistories(t, shopReplayDir, []workflows.Definition{shop.PlaceOrder, shop.Ship, shop.Notify},
		register, []recorded{{"place-order", shop.PlaceOrder.ID(), shop.Order{ID: "42"}}})
}
