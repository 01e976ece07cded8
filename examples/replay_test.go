package examples_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/examples"
	"github.com/once-run/once/oncetest"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// replayDir holds the recorded histories of the example tasks (recorded on
// the embedded server by cmd/internal/e2e TestTasksRecordHistories), with
// their metadata (starter.HistoryMetadata).
var replayDir = filepath.Join("testdata", "replay")

// TestReplayExampleHistories replays the committed histories of the example
// tasks against the current code: a change that would break runs in flight
// fails here.
func TestReplayExampleHistories(t *testing.T) {
	oncetest.ReplayDir(t, replayDir, examples.Tasks()...)
}

// TestEveryExampleTaskHasAHistory: no example task goes without its guard.
func TestEveryExampleTaskHasAHistory(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(replayDir, "*.json"))
	require.NoError(t, err)
	recorded := map[string]bool{}
	for _, p := range paths {
		_, meta, err := starter.ReadHistoryFile(p)
		require.NoError(t, err)
		recorded[meta.Task] = true
	}
	for _, d := range examples.Tasks() {
		require.True(t, recorded[d.ID()], "a recorded history for task %s", d.ID())
	}
}

// TestReplayDetectsChangedChildKey: the guard works: my-task changed to
// trigger its child with another key (another child workflow ID) does not
// replay the recorded history of its attempt 2.
func TestReplayDetectsChangedChildKey(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(replayDir, "my-task-*-2.json"))
	require.NoError(t, err)
	require.Len(t, paths, 1)
	changed := workflows.NewTask("my-task", func(ctx workflow.Context, p examples.MyTaskPayload) (examples.MyTaskResult, error) {
		key, err := workflows.CreateKey(ctx, "another-key")
		if err != nil {
			return examples.MyTaskResult{}, err
		}
		child, err := examples.ChildTask.TriggerAndWait(ctx, map[string]any{}, workflows.ChildOptions{Key: key})
		return examples.MyTaskResult{Child: child}, err
	}, workflows.TaskOptions{})
	require.NoError(t, oncetest.ReplayFile(paths[0], examples.Tasks()...))
	err = oncetest.ReplayFile(paths[0], changed)
	require.Error(t, err)
	require.Contains(t, err.Error(), "nondeterministic")
}
