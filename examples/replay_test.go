package examples_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"log/slog"

	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/workflows"
	sdklog "go.temporal.io/sdk/log"
)

// recorded is one recorded history.
type recorded struct {
	path       string
	workflowID string // not in the history; Once's tasks read their environment from it
}

// replayFiles are the recorded histories, by file name without ".json".
func replayFiles(tb testing.TB) map[string]recorded {
	tb.Helper()
	dir := filepath.Join("testdata", "replay")
	ids, err := os.ReadFile(filepath.Join(dir, "workflow-ids.tsv"))
	require.NoError(tb, err)
	out := map[string]recorded{}
	for _, line := range strings.Split(strings.TrimSpace(string(ids)), "\n") {
		name, id, ok := strings.Cut(line, "\t")
		require.True(tb, ok, "workflow-ids.tsv line %q", line)
		out[name] = recorded{path: filepath.Join(dir, name+".json"), workflowID: id}
	}
	return out
}

// replay replays one recorded history on r.
func replay(r worker.WorkflowReplayer, rec recorded) error {
	f, err := os.Open(rec.path)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return err
	}
	return r.ReplayWorkflowHistoryWithOptions(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)), h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: rec.workflowID},
	})
}

// TestReplayExampleHistories replays the committed history of every example
// task (recorded on the embedded server, see cmd/internal/e2e
// TestTasksRecordHistories) against the current code: a change that would
// break runs in flight fails here.
func TestReplayExampleHistories(t *testing.T) {
	files := replayFiles(t)
	for _, d := range examples.Tasks() {
		require.Contains(t, files, d.ID(), "a recorded history for task %s", d.ID())
	}
	for name, rec := range files {
		t.Run(name, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			for _, d := range examples.Tasks() {
				d.Register(r, workflows.Runtime{})
			}
			require.NoError(t, replay(r, rec))
		})
	}
}

// TestReplayDetectsChangedChildKey: the guard works: my-task changed to
// trigger its child with another key (another child workflow ID) does not
// replay the recorded history.
func TestReplayDetectsChangedChildKey(t *testing.T) {
	rec, ok := replayFiles(t)["my-task"]
	require.True(t, ok)
	changed := workflows.NewTask("my-task", func(ctx workflow.Context, p examples.MyTaskPayload) (examples.MyTaskResult, error) {
		key, err := idempotency.CreateInWorkflow(ctx, "another-key")
		if err != nil {
			return examples.MyTaskResult{}, err
		}
		child, err := examples.ChildTask.TriggerAndWait(ctx, map[string]any{}, workflows.TriggerOptions{Key: key})
		return examples.MyTaskResult{Child: child}, err
	}, workflows.TaskOptions{})
	r := worker.NewWorkflowReplayer()
	changed.Register(r, workflows.Runtime{})
	examples.ChildTask.Register(r, workflows.Runtime{})
	err := replay(r, rec)
	require.Error(t, err)
	require.Contains(t, err.Error(), "nondeterministic")
}
